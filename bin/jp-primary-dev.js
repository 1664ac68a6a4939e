#!/usr/bin/env node
import '../dist/src/cli/jp-primary-dev.js';

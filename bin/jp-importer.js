#!/usr/bin/env node
import '../dist/src/cli/jp-importer.js';

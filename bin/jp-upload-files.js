#!/usr/bin/env node
import '../dist/src/cli/jp-upload-files.js';

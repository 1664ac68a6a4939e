#!/usr/bin/env node
import '../dist/src/cli/lb-dump-exporter.js';

import { defineHandlerSuite } from './handler-suite.js';

defineHandlerSuite('sqlite');

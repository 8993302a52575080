#!/usr/bin/env node
// The `ntk` command. TypeScript sources run through tsx's loader, so a clone works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');

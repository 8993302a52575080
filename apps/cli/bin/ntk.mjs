#!/usr/bin/env node
// The `ntk` command. TypeScript sources run through tsx's loader (ESM and CommonJS hooks, as
// `node --import tsx` installs them), so a clone works right after `npm ci`.
import 'tsx';

await import('../src/main.ts');

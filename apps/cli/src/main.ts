// `ntk`: launch sweeps, steer and resume them, query their results, and compute kernels directly.
// Each command group lives in commands/; this file only wires them and maps errors to exit statuses.
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { SpecError } from '@ntk/spec';
import { clusterCommands } from './commands/cluster.ts';
import { dashboardCommand } from './commands/dashboard.ts';
import { kernelCommands } from './commands/kernel.ts';
import { reportCommand } from './commands/report.ts';
import { resultsCommand } from './commands/results.ts';
import { serverCommands } from './commands/server.ts';
import { sweepCommands } from './commands/sweep.ts';
import { workerCommand } from './commands/worker.ts';
import { exitCodeFor, UsageError } from './errors.ts';
import { example } from './options.ts';

const { version } = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const program = new Command('ntk')
  .description('ntk-lab: finite-versus-infinite-width experiments on Temporal')
  .version(version, '-V, --version', 'print the version of ntk')
  .showHelpAfterError()
  .addHelpText('after', example('ntk sweep run experiments/quickstart.yaml'))
  .addHelpText(
    'after',
    '\nExit status: 0 done; 1 internal or environment error; 2 bad input (nothing launched);\n3 the sweep ran and some of its trials failed; 130 interrupted (the sweep stays resumable).\n',
  );
for (const command of [sweepCommands(), resultsCommand(), reportCommand(), ...kernelCommands(), serverCommands(), clusterCommands(), workerCommand(), dashboardCommand()]) program.addCommand(command);
// Usage errors exit with 2, like spec errors; every subcommand inherits this.
const exitOverride = (command: Command): void => {
  command.exitOverride().showHelpAfterError();
  command.commands.forEach(exitOverride);
};
exitOverride(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Commander has already printed its own message (or the help text).
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  const code = exitCodeFor(err);
  console.error(err instanceof SpecError || err instanceof UsageError ? err.message : `error: ${(err as Error).message}`);
  process.exit(code);
}
// Workers, bars and connections are closed by now; exit with the status the command set.
process.exit(process.exitCode ?? 0);

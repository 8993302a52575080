// `ntk server`: the local Temporal dev server (state under NTK_HOME).
import { Command } from 'commander';
import { resolveNtkHome } from '@ntk/store';
import { example } from '../options.ts';
import { serverStatus, startServer, stopServer } from '../temporal-server.ts';

export function serverCommands(): Command {
  const server = new Command('server').description('the local Temporal dev server (state under NTK_HOME, default ./.ntk)');
  server
    .command('start')
    .description('start the local Temporal dev server (no-op if it is running)')
    .addHelpText('after', example('ntk server start'))
    .action(async () => {
      const state = await startServer(resolveNtkHome().home, { log: (l) => console.error(l) });
      console.log(`Temporal dev server running: pid ${state.pid}, ${state.address}, state ${state.dbFile}`);
    });
  server
    .command('stop')
    .description('stop the local Temporal dev server (workflow state is kept)')
    .addHelpText('after', example('ntk server stop'))
    .action(async () => {
      const state = await stopServer(resolveNtkHome().home);
      console.log(state ? `stopped Temporal dev server pid ${state.pid}` : 'no Temporal dev server was running');
    });
  server
    .command('status')
    .description('show whether the local Temporal dev server is running')
    .addHelpText('after', example('ntk server status'))
    .action(async () => {
      const state = await serverStatus(resolveNtkHome().home);
      if (!state) console.log('not running');
      else console.log(`${state.healthy ? 'running' : 'not answering'}: pid ${state.pid}, ${state.address}, state ${state.dbFile}, log ${state.logFile}`);
      process.exitCode = state?.healthy ? 0 : 3;
    });
  return server;
}

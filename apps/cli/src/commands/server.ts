// `ntk server`: the local Temporal dev server (state under NTK_HOME).
import { Command, Option } from 'commander';
import { resolveNtkHome } from '@ntk/store';
import { example, positiveInt } from '../options.ts';
import { serverStatus, startServer, stopServer, type ServerState } from '../temporal-server.ts';

const webUi = (state: ServerState) => (state.uiUrl ? `, web UI ${state.uiUrl}` : '');

export function serverCommands(): Command {
  const server = new Command('server').description('the local Temporal dev server (state under NTK_HOME, default ./.ntk)');
  server
    .command('start')
    .description('start the local Temporal dev server (no-op if it is running)')
    .addOption(new Option('--ui-port <port>', "port of Temporal's web UI on 127.0.0.1 (default: the gRPC port + 1000 when free, else any free port)").argParser(positiveInt))
    .addHelpText('after', example('ntk server start --ui-port 8233'))
    .action(async (opts: { uiPort?: number }) => {
      const state = await startServer(resolveNtkHome().home, { uiPort: opts.uiPort, log: (l) => console.error(l) });
      console.log(`Temporal dev server running: pid ${state.pid}, ${state.address}${webUi(state)}, state ${state.dbFile}`);
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
      else console.log(`${state.healthy ? 'running' : 'not answering'}: pid ${state.pid}, ${state.address}${webUi(state)}, state ${state.dbFile}, log ${state.logFile}`);
      process.exitCode = state?.healthy ? 0 : 3;
    });
  return server;
}

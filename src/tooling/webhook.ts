// `kubexit webhook`: the mutating admission webhook that wires kubexit into the pods created in
// the namespaces that opt in (deploy/webhook/). The server is webhook-server.ts; the mutation
// is inject's own (one wiring for the CLI and the webhook).
import { Log } from '../supervisor/log.js';
import { injectPodObject } from './inject.js';
import { HEALTH_PATH, MUTATE_PATH, WebhookServer } from './webhook-server.js';

export const USAGE = `Usage: kubexit webhook --cert FILE --key FILE [--port 8443] [--addr 0.0.0.0] [--image IMAGE]
  Serves the mutating admission webhook over HTTPS: POST ${MUTATE_PATH} (AdmissionReview v1)
  wires kubexit into each pod created, as kubexit inject does; GET ${HEALTH_PATH} answers ok.
  The certificate and key (PEM) are read again whenever their folder changes.
  --image is the kubexit image of the init container it adds. Stops on SIGTERM or SIGINT.
`;

interface Args {
  cert: string;
  key: string;
  port: number;
  addr: string;
  image: string | undefined;
}

function parseArgs(args: readonly string[]): Args | string {
  const values: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const m = /^--(cert|key|port|addr|image)(?:=(.*))?$/.exec(arg);
    if (!m) return `unknown argument ${arg}`;
    const value = m[2] ?? args[++i];
    if (value === undefined || value === '') return `--${m[1]} needs a value`;
    values[m[1] as string] = value;
  }
  if (values.cert === undefined || values.key === undefined) return '--cert and --key are needed';
  const port = Number(values.port ?? '8443');
  if (!/^\d+$/.test(values.port ?? '8443') || port > 65535)
    return `--port ${values.port}: expected a port number from 0 to 65535`;
  return {
    cert: values.cert,
    key: values.key,
    port,
    addr: values.addr ?? '0.0.0.0',
    image: values.image,
  };
}

/** `kubexit webhook …`: runs until SIGTERM or SIGINT (0); 1 if it can't start; 2 bad usage. */
export async function webhookCommand(args: string[]): Promise<number> {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    process.stderr.write(`kubexit webhook: ${parsed}\n${USAGE}`);
    return 2;
  }
  const log = new Log();
  const options = parsed.image === undefined ? {} : { image: parsed.image };
  let server: WebhookServer;
  try {
    server = await WebhookServer.start({
      certFile: parsed.cert,
      keyFile: parsed.key,
      port: parsed.port,
      host: parsed.addr,
      log,
      mutate: (pod) => injectPodObject(pod, options),
    });
  } catch (err) {
    log.errorLine('webhook cannot start', { error: (err as Error).message, exit_code: 1 });
    return 1;
  }
  log.info('webhook listening', { address: parsed.addr, port: server.port, path: MUTATE_PATH });
  // main's signal trap keeps every signal from being fatal: these end the server cleanly.
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('webhook stopping', { signal });
  await server.close();
  return 0;
}

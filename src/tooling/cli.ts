// `kubexit inject|lint|graph|webhook …`: the manifest tools, loaded only when one is asked for,
// so that supervising a command never pays for them.
// The names are listed in main.ts (isTool) too: main must not load this module to know them.

type Tool = (args: string[]) => Promise<number>;

const LOADERS: Readonly<Record<string, () => Promise<Tool>>> = {
  // Each tool adds one line here: name → its module's command function.
  inject: async () => (await import('./inject.js')).injectCommand,
  lint: async () => (await import('./lint.js')).lintCommand,
  graph: async () => (await import('./graph.js')).graphCommand,
  webhook: async () => (await import('./webhook.js')).webhookCommand,
};

/** Runs the tool named by argv[0] with the rest; returns the exit code. */
export async function runTool(argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  const load = name === undefined ? undefined : LOADERS[name];
  if (load === undefined) {
    process.stderr.write(`kubexit: ${String(name)} is not available in this build\n`);
    return 2;
  }
  return (await load())(args);
}

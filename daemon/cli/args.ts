/**
 * The one option parser of every `seqr-vend` command (node's `util.parseArgs`, strict): each
 * option is taken as `--name value`, `--name=value`, `-n value` or `-nvalue`, flags as `--flag`;
 * an unknown option, a missing value or a stray argument is a {@link UsageError} (exit 64).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line the command cannot take; the message says what is wrong. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The options every command that reads the configuration takes. */
export const CONFIG_OPTION = { config: { type: 'string', short: 'c' } } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` for one command: its `options`, and positionals only when `positionals`. */
export function parseCommandArgs<const O extends Options, const P extends boolean = false>(
  argv: readonly string[],
  options: O,
  positionals?: P,
) {
  try {
    return parseArgs({
      args: [...argv],
      options,
      allowPositionals: (positionals ?? false) as P,
      strict: true,
    });
  } catch (err) {
    // parseArgs reports a bad command line as a TypeError with an ERR_PARSE_ARGS_* code.
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (err instanceof TypeError && code.startsWith('ERR_PARSE_ARGS_'))
      throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Takes the configuration option (`--config FILE`, `--config=FILE`, `-c FILE`, `-cFILE`) out of
 * `argv`, for commands that hand the rest to a parser of their own. Throws a {@link UsageError}
 * when it is given without a file or more than once.
 */
export function takeConfigOption(argv: readonly string[]): {
  config: string | undefined;
  rest: string[];
} {
  const { tokens } = parseArgs({
    args: [...argv],
    options: CONFIG_OPTION,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  let config: string | undefined;
  const taken = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name !== 'config') continue;
    if (token.value === undefined || token.value === '')
      throw new UsageError(`${token.rawName} needs a configuration file`);
    if (config !== undefined) throw new UsageError(`${token.rawName} is given more than once`);
    config = token.value;
    taken.add(token.index);
    if (!token.inlineValue) taken.add(token.index + 1);
  }
  return { config, rest: argv.filter((_, i) => !taken.has(i)) };
}

import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Transpiles `entry` (a repo-relative .ts path) and every module it imports relatively into
 * `outDir`, keeping the layout, so a plain `node` child process can run it (Node 20 has no type
 * stripping). `node_modules` is linked so package imports resolve. Returns the entry's .js path.
 */
export function transpileForChild(entry: string, outDir: string): string {
  const seen = new Set<string>();
  const queue = [path.join(repoRoot, entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    const out = path.join(outDir, path.relative(repoRoot, file)).replace(/\.ts$/, '.js');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, outputText);
    for (const m of outputText.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)\.js'/g))
      queue.push(path.resolve(path.dirname(file), `${m[1]!}.ts`));
  }
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(outDir, 'node_modules'));
  writeFileSync(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  return path.join(outDir, entry).replace(/\.ts$/, '.js');
}

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** maven-dependency-plugin pinned: Maven 3.8.7 is what these machines have. */
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1';

export interface ClasspathRequest {
  /** Where the generated files and the cached classpath live. */
  readonly cacheDir: string;
  /** File names in `cacheDir`. They name the cache, so a harness keeps its names once released. */
  readonly files: { readonly pom: string; readonly classpath: string };
  readonly pom: string;
  /** A `settings.xml` for Maven (`-s`), e.g. to mirror repositories these machines cannot reach. */
  readonly settings?: { readonly file: string; readonly text: string };
  /** The Maven command. Default `$MAVEN_CMD` or `mvn`. */
  readonly maven?: string;
  readonly log: (line: string) => void;
  /** Logged before Maven runs: what is being resolved, and how much a first run downloads. */
  readonly announce: string;
  /** One progress line per this many downloaded artifacts: a first run may take minutes. */
  readonly progressEvery: number;
  /** What failed, for Maven's error: `Kafka`, `Pulsar`. */
  readonly subject: string;
}

async function cachedClasspath(file: string): Promise<string | undefined> {
  if (!existsSync(file)) return undefined;
  const classpath = (await readFile(file, 'utf8')).trim();
  const jars = classpath.split(delimiter).filter(Boolean);
  // A cleaned ~/.m2 invalidates the cache: resolve again rather than start a JVM that cannot load.
  if (jars.length === 0 || !jars.every((jar) => existsSync(jar))) return undefined;
  return classpath;
}

/**
 * The runtime classpath of a generated POM, resolved by Maven into `~/.m2` (jars are never copied
 * elsewhere) and cached joined for `java -cp`: a second call costs one file read.
 */
export async function resolveClasspath(request: ClasspathRequest): Promise<string> {
  const { cacheDir, files, log } = request;
  const classpathFile = join(cacheDir, files.classpath);
  const cached = await cachedClasspath(classpathFile);
  if (cached) return cached;

  await mkdir(cacheDir, { recursive: true });
  const pomFile = join(cacheDir, files.pom);
  await writeFile(pomFile, request.pom);
  const settingsArgs: string[] = [];
  if (request.settings) {
    const settingsFile = join(cacheDir, request.settings.file);
    await writeFile(settingsFile, request.settings.text);
    settingsArgs.push('-s', settingsFile);
  }
  log(request.announce);
  const started = Date.now();
  // Written to a private file first and renamed, so a concurrent resolver never reads half a classpath.
  const partial = `${classpathFile}.${process.pid}.tmp`;
  await runMaven(
    request.maven ?? process.env.MAVEN_CMD ?? 'mvn',
    [
      '-B',
      ...settingsArgs,
      '-f',
      pomFile,
      `${DEPENDENCY_PLUGIN}:build-classpath`,
      '-DincludeScope=runtime',
      `-Dmdep.outputFile=${partial}`,
    ],
    request,
  );
  await rename(partial, classpathFile);
  const classpath = await cachedClasspath(classpathFile);
  if (!classpath) throw new Error(`Maven wrote no usable classpath to ${classpathFile}`);
  log(
    `resolved ${classpath.split(delimiter).length} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return classpath;
}

function runMaven(command: string, args: string[], request: ClasspathRequest): Promise<void> {
  const { cacheDir, log, progressEvery, subject } = request;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: cacheDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let downloads = 0;
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      // Maven prints one "Downloaded from" line per artifact.
      if (line.includes('Downloaded from') && ++downloads % progressEvery === 0) {
        log(`maven: ${downloads} artifacts downloaded so far`);
      }
    };
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) =>
      reject(new Error(`cannot run Maven (${command}): ${error.message}`, { cause: error })),
    );
    child.on('close', (code) => {
      if (pending) onLine(pending);
      if (code === 0) resolve();
      else reject(new Error(`Maven exited with ${code} resolving ${subject}:\n${tail.join('\n')}`));
    });
  });
}

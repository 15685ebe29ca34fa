/**
 * While a consumer waits on a scanner, the process stays alive, as it does for a socket with a pending
 * read: a `for await` over a tailing scanner would otherwise end the process (exit code 13, "unsettled
 * top-level await") as soon as nothing else is scheduled. One shared timer, referenced only while at
 * least one consumer waits, so an idle or closed scanner never holds the process.
 */
let waiting = 0;
let timer: ReturnType<typeof setInterval> | undefined;

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Holds the process until the returned release is called (once; later calls do nothing). */
export function holdProcessWhileWaiting(): () => void {
  if (waiting++ === 0) {
    timer ??= setInterval(() => {}, MAX_TIMER_MS);
    timer.ref();
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--waiting === 0) timer?.unref();
  };
}

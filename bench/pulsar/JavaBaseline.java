import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.MessageId;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.Reader;

/**
 * The Java-client baseline of bench/pulsar/append-scan.ts: Pulsar's own Java client driven exactly like
 * the adapter is driven there, in one JVM that lives through the whole bench, so the two sides measure
 * the clients and not JVM start-up or JIT warm-up.
 *
 * <p>Usage: JavaBaseline serviceUrl. Reads commands from stdin, one per line, and answers each with one
 * line `RESULT {json}` on stdout:
 *
 * <ul>
 *   <li>`produce topic messages window size rate`: an unbatched producer with at most `window` sends in
 *       flight, paced at `rate` msg/s when `rate` > 0; latency of each send from the call to its receipt,
 *       throughput from the first send to the last receipt: {"msgPerSec", "p50Ms", "p99Ms"};
 *   <li>`scan topic messages queue`: a reader from the earliest id with a `queue`-message receiver queue,
 *       timed from creating the reader to the `messages`-th message: {"msgPerSec"};
 *   <li>`quit`.
 * </ul>
 */
public class JavaBaseline {
  /** CPU time of the whole JVM (client threads, GC, JIT), as `process.cpuUsage()` counts Node's. */
  static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  static double percentile(long[] sortedNanos, double p) {
    int n = sortedNanos.length;
    int index = (int) Math.min(n - 1, Math.max(0, Math.ceil(p / 100 * n) - 1));
    return sortedNanos[index] / 1e6;
  }

  /** {"msgPerSec":..,"p50Ms":..,"p99Ms":..} of `messages` unbatched sends, at most `window` in flight. */
  static String produce(PulsarClient client, String topic, int messages, int window, int size, double rate)
      throws Exception {
    byte[] payload = new byte[size];
    Arrays.fill(payload, (byte) 7);
    long[] latencies = new long[messages];
    try (Producer<byte[]> producer =
        client
            .newProducer()
            .topic(topic)
            .enableBatching(false)
            .maxPendingMessages(window)
            .blockIfQueueFull(true)
            .sendTimeout(0, TimeUnit.SECONDS)
            .create()) {
      Semaphore room = new Semaphore(window);
      CountDownLatch done = new CountDownLatch(messages);
      long cpuStarted = cpuNanos();
      long started = System.nanoTime();
      long interval = rate > 0 ? (long) (1e9 / rate) : 0;
      for (int i = 0; i < messages; i++) {
        if (interval > 0) {
          long due = started + i * interval;
          for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
            LockSupport.parkNanos(wait);
          }
        }
        room.acquire();
        final int index = i;
        final long sentAt = System.nanoTime();
        producer
            .sendAsync(payload)
            .whenComplete(
                (id, error) -> {
                  if (error != null) {
                    error.printStackTrace();
                    System.exit(2);
                  }
                  latencies[index] = System.nanoTime() - sentAt;
                  room.release();
                  done.countDown();
                });
      }
      done.await();
      double seconds = (System.nanoTime() - started) / 1e9;
      long cpu = cpuNanos() - cpuStarted;
      Arrays.sort(latencies);
      return String.format(
          Locale.ROOT,
          "{\"msgPerSec\":%.1f,\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"cpuUsPerMsg\":%.2f}",
          messages / seconds,
          percentile(latencies, 50),
          percentile(latencies, 99),
          cpu / 1e3 / messages);
    }
  }

  /** {"msgPerSec":..} of reading `messages` from the earliest id. */
  static String scan(PulsarClient client, String topic, int messages, int queue) throws Exception {
    long cpuStarted = cpuNanos();
    long started = System.nanoTime();
    try (Reader<byte[]> reader =
        client
            .newReader()
            .topic(topic)
            .startMessageId(MessageId.earliest)
            .receiverQueueSize(queue)
            .create()) {
      for (int i = 0; i < messages; i++) {
        Message<byte[]> message = reader.readNext(60, TimeUnit.SECONDS);
        if (message == null) throw new IllegalStateException("no message " + i + " within 60 s");
      }
      double seconds = (System.nanoTime() - started) / 1e9;
      long cpu = cpuNanos() - cpuStarted;
      return String.format(
          Locale.ROOT,
          "{\"msgPerSec\":%.1f,\"cpuUsPerMsg\":%.2f}",
          messages / seconds,
          cpu / 1e3 / messages);
    }
  }

  public static void main(String[] args) throws Exception {
    try (PulsarClient client =
            PulsarClient.builder().serviceUrl(args[0]).enableTcpNoDelay(true).build();
        BufferedReader commands =
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      for (String line = commands.readLine(); line != null; line = commands.readLine()) {
        String[] c = line.trim().split("\\s+");
        String result;
        switch (c[0]) {
          case "produce":
            result =
                produce(
                    client,
                    c[1],
                    Integer.parseInt(c[2]),
                    Integer.parseInt(c[3]),
                    Integer.parseInt(c[4]),
                    Double.parseDouble(c[5]));
            break;
          case "scan":
            result = scan(client, c[1], Integer.parseInt(c[2]), Integer.parseInt(c[3]));
            break;
          case "quit":
            return;
          default:
            throw new IllegalArgumentException("unknown command: " + line);
        }
        System.out.println("RESULT " + result);
        System.out.flush();
      }
    }
  }
}

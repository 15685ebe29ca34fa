import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Writes records with Kafka's own Java producer, one topic `<prefix>-<codec>` per compression type
 * (none, gzip, snappy, lz4, zstd), `count` records each in one batch: record i has key "k<i>", a UTF-8
 * header seq=i, a binary header bin=[0xff, 0x00, i] and the value {@link #value}; then one record with
 * a null key and a null value (a tombstone). Prints `<topic> <offset>` per record.
 */
public class KafkaCodecProducer {
  static byte[] value(int i) {
    return ("walstream value " + i + " ").repeat(1 + i * 5).getBytes(StandardCharsets.UTF_8);
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String prefix = args[1];
    int count = Integer.parseInt(args[2]);
    String[] codecs = {"none", "gzip", "snappy", "lz4", "zstd"};
    Properties adminProps = new Properties();
    adminProps.put("bootstrap.servers", bootstrap);
    try (Admin admin = Admin.create(adminProps)) {
      List<NewTopic> topics = new java.util.ArrayList<>();
      for (String codec : codecs) topics.add(new NewTopic(prefix + "-" + codec, 1, (short) 1));
      admin.createTopics(topics).all().get();
    }
    for (String codec : codecs) {
      String topic = prefix + "-" + codec;
      Properties props = new Properties();
      props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
      props.put(ProducerConfig.LINGER_MS_CONFIG, "100");
      props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
        java.util.List<java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata>> sent =
            new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
          RecordHeaders headers = new RecordHeaders();
          headers.add("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
          headers.add("bin", new byte[] {(byte) 0xff, 0x00, (byte) i});
          sent.add(
              producer.send(
                  new ProducerRecord<>(topic, 0, ("k" + i).getBytes(StandardCharsets.UTF_8), value(i), headers)));
        }
        sent.add(producer.send(new ProducerRecord<>(topic, 0, null, null)));
        producer.flush();
        for (var future : sent) System.out.println(topic + " " + future.get().offset());
      }
    }
  }
}

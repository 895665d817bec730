// Produces records with explicit CreateTime timestamps (neither the console
// producer, ProducerPerformance nor Debian's kcat can set one per record).
// Run with Java's single-file launcher, no build step:
//   java -cp "$KAFKA_LIBS/*" TimestampProducer.java BOOTSTRAP TOPIC PARTITIONS COUNT START_MS STEP_MS
// Record i goes to partition i % PARTITIONS with timestamp START_MS + i*STEP_MS.
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class TimestampProducer {
    public static void main(String[] a) throws Exception {
        String bootstrap = a[0], topic = a[1];
        int partitions = Integer.parseInt(a[2]), count = Integer.parseInt(a[3]);
        long start = Long.parseLong(a[4]), step = Long.parseLong(a[5]);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("acks", "all");
        p.put("linger.ms", "5");
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(p)) {
            for (int i = 0; i < count; i++) {
                long ts = start + i * step;
                prod.send(new ProducerRecord<>(topic, i % partitions, ts, "k" + i, "v" + i + "@" + ts));
            }
            prod.flush();
        }
        System.out.println("produced " + count + " records");
    }
}

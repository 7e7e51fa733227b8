package dev.igate.gateway;

import org.springframework.boot.SpringApplication;
import org.springframework.context.ConfigurableApplicationContext;
import sun.misc.Signal;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** The inference gateway: V1/V2 endpoints, model registry, stages wired in process. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class GatewayApplication {

    public static void main(String[] args) {
        // the JDK keeps a direct buffer as large as each big file read through a channel (a model's 86 MB)
        // in a per-thread cache for good: model loads and explainer preparation held 40-90 MB of them
        // (native memory tracking, BENCHMARKS.md). Read before the first channel read, so set first.
        if (System.getProperty("jdk.nio.maxCachedBufferSize") == null) {
            System.setProperty("jdk.nio.maxCachedBufferSize", Integer.toString(1 << 20));
        }
        ConfigurableApplicationContext context = SpringApplication.run(GatewayApplication.class, args);
        // SIGTERM (Kubernetes, systemd): readiness goes down, in-flight and queued requests finish
        // within spring.lifecycle.timeout-per-shutdown-phase, then the process exits 0, not 143
        Signal.handle(new Signal("TERM"), signal -> {
            Thread shutdown = new Thread(() -> {
                try {
                    context.close();
                } catch (Throwable e) {
                    // a close that failed half-way leaves the context active: Spring's own shutdown hook
                    // would wait for it for minutes, so stop the JVM now, with a failure status
                    e.printStackTrace();
                    Runtime.getRuntime().halt(1);
                }
                System.exit(0);
            }, "sigterm");
            // non-daemon: once the server stops accepting, its keep-alive thread ends, and this thread
            // must keep the JVM up until the accepted requests are answered and the models closed
            shutdown.setDaemon(false);
            shutdown.start();
        });
    }
}

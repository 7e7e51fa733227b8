package dev.igate.gateway;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Every test of this module runs with Netty's leak detection at {@code paranoid} (each buffer
 * tracked, with where it was touched), and a test during which Netty reports a buffer that was
 * garbage-collected without {@code release()} fails with Netty's report: a direct buffer never
 * released is native memory outside the heap's accounting. Registered for every test class by
 * JUnit's extension auto-detection (src/test/resources: junit-platform.properties and
 * META-INF/services). After each test the detector is made to look (an allocation polls its queue);
 * after each class a garbage collection first, so that what the class left unreleased is found.
 */
public final class NettyLeakDetection implements AfterEachCallback, AfterAllCallback {

    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

    static {
        // before any ByteBuf class makes its detector: every detector reports to this test
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new ResourceLeakDetectorFactory() {
            @Override
            @SuppressWarnings("deprecation")
            public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
                ResourceLeakDetector<T> detector = new ResourceLeakDetector<>(resource, samplingInterval, maxActive);
                detector.setLeakListener((type, records) -> LEAKS.add("LEAK: " + type + ".release() was not called before it was"
                        + " garbage-collected." + records));
                return detector;
            }
        });
    }

    /** Makes the detectors look at what was collected: they do so when a new buffer is tracked. */
    private static void poll() {
        for (ByteBufAllocator allocator : List.of(ByteBufAllocator.DEFAULT, io.netty.buffer.UnpooledByteBufAllocator.DEFAULT)) {
            for (int i = 0; i < 8; i++) {
                ByteBuf probe = allocator.directBuffer(8);
                probe.release();
            }
        }
    }

    private static void check(String when) {
        poll();
        if (!LEAKS.isEmpty()) {
            List<String> found = new ArrayList<>(LEAKS);
            LEAKS.clear();
            throw new AssertionError(found.size() + " Netty buffer(s) leaked, found " + when + ":\n" + String.join("\n", found));
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        check("after " + context.getDisplayName());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        System.gc();
        System.gc();
        check("after the class's garbage collection");
    }
}

package dev.igate.gateway.model;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives the memory a closed model version freed back to the operating system. ONNX Runtime and
 * the tokenizer free through the C allocator, and glibc keeps what they freed in its arenas: after
 * unload/load cycles a server held twice its start-up RSS with nothing leaked
 * (BENCHMARKS.md). {@code malloc_trim(0)} returns those free pages. Elsewhere (not glibc) this does
 * nothing. JNA comes with DJL's tokenizer.
 */
final class NativeMemory {

    private static final Logger log = LoggerFactory.getLogger(NativeMemory.class);

    interface LibC extends Library {
        int malloc_trim(long pad);
    }

    private static final LibC LIBC = load();

    private NativeMemory() {
    }

    private static LibC load() {
        if (!Platform.isLinux()) {
            return null;
        }
        try {
            return Native.load("c", LibC.class);
        } catch (Throwable e) {
            log.debug("No C library to trim: {}", e.toString());
            return null;
        }
    }

    /**
     * After a version closed: a full GC, so the heap that its loading grew (model bytes, graph
     * rewrites) shrinks and is uncommitted, then {@link #trim}. Blocking: a pause of the order of
     * 100 ms, on an admin call (unload, reload), never on a request.
     */
    static void release() {
        long before = rssKb();
        System.gc();
        trim();
        long after = rssKb();
        if (before > 0 && after > 0) {
            log.info("Memory given back after closing a model: resident {} MiB -> {} MiB", before / 1024, after / 1024);
        }
    }

    /** Resident memory of this process in KiB, from /proc; -1 where there is none. */
    static long rssKb() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }

    /** Returns the allocator's free memory to the system, where the allocator can (glibc). Blocking: milliseconds. */
    static void trim() {
        if (LIBC == null) {
            return;
        }
        try {
            LIBC.malloc_trim(0);
        } catch (Throwable e) {
            // musl and others have no malloc_trim: nothing to give back this way
            log.debug("malloc_trim unavailable: {}", e.toString());
        }
    }
}

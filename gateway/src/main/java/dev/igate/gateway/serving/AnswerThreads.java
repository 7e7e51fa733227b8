package dev.igate.gateway.serving;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Where a request's answer is built once its model run completes. A REST request continues on the
 * Netty event loop it arrived on: decoding labels, encoding JSON and writing then follow the
 * batcher thread in one hop, and the batcher thread is free at once for its next batch (JFR at
 * concurrency 1 showed the former hop through Reactor's parallel scheduler, then back to the
 * event loop for the write, as a second thread wake-up per request). Requests that arrive on other
 * threads (gRPC's transport, tests) continue on Reactor's parallel scheduler.
 */
final class AnswerThreads {

    private static final Map<EventExecutor, Scheduler> LOOPS = new ConcurrentHashMap<>();

    private AnswerThreads() {
    }

    /** The scheduler of the calling thread's event loop, or Reactor's parallel scheduler. Call where the request arrived. */
    static Scheduler current() {
        EventExecutor loop = ThreadExecutorMap.currentExecutor();
        return loop == null ? Schedulers.parallel() : LOOPS.computeIfAbsent(loop, l -> Schedulers.fromExecutor(l));
    }
}

package dev.igate.benchmark;

import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.grpc.GrpcCodec;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ServerLiveRequest;
import dev.igate.protocol.Tensor;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;

/**
 * A closed-loop gRPC load generator, what hey does for HTTP: {@code concurrency} ModelInfer calls
 * in flight on one HTTP/2 connection for a fixed time, each answered call replaced at once. The
 * request is the seed sentence as one BYTES element, or with {@code tensors} the token tensors
 * of {@link TensorRequests}, typed ({@code contents}) or raw ({@code raw_input_contents}). Prints
 * "requests/s p50_ms p99_ms errors" for each concurrency, in order, after a 5 s warm-up. With {@code live} it calls ServerLive
 * instead: the floor of this client and the transport, to compare with hey on GET /v2/health/live.
 *
 * <p>Usage: {@code GrpcLoad port seconds concurrency[,concurrency...] typed|raw [text|tensors|live]}
 */
public final class GrpcLoad {

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        double seconds = Double.parseDouble(args[1]);
        int[] concurrencies = Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray();
        boolean raw = "raw".equals(args[3]);
        boolean tensors = args.length > 4 && "tensors".equals(args[4]);
        boolean live = args.length > 4 && "live".equals(args[4]);
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext()
                // callbacks only send the next call: no hand-off to a client thread pool
                .directExecutor().build();
        try {
            ModelInferRequest request = request(raw, tensors ? TensorRequests.inputs()
                    : java.util.List.of(Tensor.ofStrings("text", new long[] {1}, ExplainBenchmark.SEED)));
            GRPCInferenceServiceGrpc.GRPCInferenceServiceStub stub = GRPCInferenceServiceGrpc.newStub(channel);
            // one JVM for every concurrency, warmed first: a cold client's JIT would take CPU from the server
            run(stub, request, live, 16, 5);
            for (int concurrency : concurrencies) {
                Result r = run(stub, request, live, concurrency, seconds);
                System.out.printf(Locale.ROOT, "%.1f %.2f %.2f %d%n", r.count / seconds, r.percentile(0.5), r.percentile(0.99), r.errors);
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    static ModelInferRequest request(boolean raw, java.util.List<Tensor> inputs) {
        ModelInferRequest.Builder b = ModelInferRequest.newBuilder().setModelName("BERTSeqClassification");
        for (Tensor t : inputs) {
            ModelInferRequest.InferInputTensor.Builder input = ModelInferRequest.InferInputTensor.newBuilder()
                    .setName(t.name()).setDatatype(t.datatype().name());
            Arrays.stream(t.shape()).forEach(input::addShape);
            if (raw) {
                b.addInputs(input).addRawInputContents(GrpcCodec.raw(t));
            } else {
                b.addInputs(input.setContents(GrpcCodec.contents(t)));
            }
        }
        return b.build();
    }

    /** Latencies of the calls answered before the deadline, in a preallocated array. */
    static final class Result {
        final long[] nanos = new long[4_000_000];
        final AtomicInteger recorded = new AtomicInteger();
        int count;
        int errors;

        double percentile(double p) {
            long[] sorted = Arrays.copyOf(nanos, Math.min(count, nanos.length));
            Arrays.sort(sorted);
            return sorted.length == 0 ? 0 : sorted[(int) Math.min(sorted.length - 1, Math.floor(p * sorted.length))] / 1e6;
        }
    }

    static Result run(GRPCInferenceServiceGrpc.GRPCInferenceServiceStub stub, ModelInferRequest request, boolean live,
                      int concurrency, double seconds) throws InterruptedException {
        Result result = new Result();
        AtomicInteger errors = new AtomicInteger();
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        CountDownLatch done = new CountDownLatch(concurrency);
        for (int i = 0; i < concurrency; i++) {
            send(stub, request, live, deadline, result, errors, done);
        }
        done.await();
        result.count = Math.min(result.recorded.get(), result.nanos.length);
        result.errors = errors.get();
        return result;
    }

    private static void send(GRPCInferenceServiceGrpc.GRPCInferenceServiceStub stub, ModelInferRequest request, boolean live,
                             long deadline, Result result, AtomicInteger errors, CountDownLatch done) {
        long start = System.nanoTime();
        if (start >= deadline) {
            done.countDown();
            return;
        }
        StreamObserver<Object> answer = new StreamObserver<>() {
            @Override
            public void onNext(Object value) {
            }

            @Override
            public void onError(Throwable t) {
                errors.incrementAndGet();
                send(stub, request, live, deadline, result, errors, done);
            }

            @Override
            public void onCompleted() {
                long end = System.nanoTime();
                if (end < deadline) {
                    int i = result.recorded.getAndIncrement();
                    if (i < result.nanos.length) {
                        result.nanos[i] = end - start;
                    }
                }
                send(stub, request, live, deadline, result, errors, done);
            }
        };
        GRPCInferenceServiceGrpc.GRPCInferenceServiceStub call = stub.withDeadlineAfter(30, TimeUnit.SECONDS);
        if (live) {
            call.serverLive(ServerLiveRequest.getDefaultInstance(), cast(answer));
        } else {
            call.modelInfer(request, cast(answer));
        }
    }

    @SuppressWarnings("unchecked")
    private static <T> StreamObserver<T> cast(StreamObserver<Object> observer) {
        return (StreamObserver<T>) (StreamObserver<?>) observer;
    }
}

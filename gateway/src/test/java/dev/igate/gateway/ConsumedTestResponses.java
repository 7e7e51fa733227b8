package dev.igate.gateway;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.webtestclient.autoconfigure.WebTestClientBuilderCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.web.reactive.function.client.ExchangeFilterFunction;
import reactor.core.publisher.Flux;

/**
 * The tests' WebTestClient reads every response whole and hands the test a heap copy: a test that
 * only checks a status (and never reads the body) leaves no pooled Netty buffer behind, so that
 * {@link NettyLeakDetection} reports the server's leaks, not the tests' own. A test
 * auto-configuration (META-INF/spring/...AutoConfiguration.imports), so every server context of
 * this module's tests has it.
 */
@AutoConfiguration
public class ConsumedTestResponses {

    @Bean
    WebTestClientBuilderCustomizer consumeEveryResponse() {
        return builder -> builder.filter(ExchangeFilterFunction.ofResponseProcessor(response -> response.bodyToMono(byte[].class)
                .defaultIfEmpty(new byte[0])
                .map(body -> response.mutate().body(body.length == 0 ? Flux.empty()
                        : Flux.just(DefaultDataBufferFactory.sharedInstance.wrap(body))).build())));
    }
}

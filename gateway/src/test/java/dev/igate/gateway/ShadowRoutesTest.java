package dev.igate.gateway;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

import org.springframework.boot.test.context.SpringBootTest;

/**
 * A demo server whose routes shadow V1 predict on version 1 to version 2 (in process) and V2
 * infer on version 1 to an address where nothing listens, and V2 infer at /shadowed-binary/infer on
 * version 1 to version 2, and V1 predict at /shadowed-explained:predict on version 1 to version 2;
 * every shadowed call's explanations are compared (drift-every 1). Classes
 * that share it share one context.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.explainer.drift-every=1",
        "spring.cloud.gateway.server.webflux.routes[0].id=shadowed-predict",
        "spring.cloud.gateway.server.webflux.routes[0].uri=forward:/v1/models/BERTSeqClassification/versions/1:predict",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[0]=Path=/v1/models/BERTSeqClassification:predict",
        "spring.cloud.gateway.server.webflux.routes[0].filters[0]=Revision=stable",
        "spring.cloud.gateway.server.webflux.routes[0].filters[1]=Shadow=forward:/v1/models/BERTSeqClassification/versions/2:predict, 100",
        "spring.cloud.gateway.server.webflux.routes[1].id=shadow-down",
        "spring.cloud.gateway.server.webflux.routes[1].uri=forward:/v2/models/BERTSeqClassification/versions/1/infer",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[0]=Path=/v2/models/BERTSeqClassification/infer",
        "spring.cloud.gateway.server.webflux.routes[1].filters[0]=Shadow=http://127.0.0.1:9/v2/models/BERTSeqClassification/infer, 100",
        "spring.cloud.gateway.server.webflux.routes[2].id=shadowed-binary",
        "spring.cloud.gateway.server.webflux.routes[2].uri=forward:/v2/models/BERTSeqClassification/versions/1/infer",
        "spring.cloud.gateway.server.webflux.routes[2].predicates[0]=Path=/shadowed-binary/infer",
        "spring.cloud.gateway.server.webflux.routes[2].filters[0]=Shadow=forward:/v2/models/BERTSeqClassification/versions/2/infer, 100",
        "spring.cloud.gateway.server.webflux.routes[3].id=shadowed-explained",
        "spring.cloud.gateway.server.webflux.routes[3].uri=forward:/v1/models/BERTSeqClassification/versions/1:predict",
        "spring.cloud.gateway.server.webflux.routes[3].predicates[0]=Path=/shadowed-explained:predict",
        "spring.cloud.gateway.server.webflux.routes[3].filters[0]=Shadow=forward:/v1/models/BERTSeqClassification/versions/2:predict, 100"})
@interface ShadowRoutesTest {
}

package dev.igate.gateway;

import java.net.URI;
import java.util.Locale;

/**
 * A model's payload logging, as KServe's logger ({@code igate.models.<name>.logger}, or
 * {@code igate.defaults.logger}): which payloads, and where.
 *
 * @param mode       {@code all}, {@code request} or {@code response}
 * @param url        an HTTP sink: each payload is POSTed to it as a CloudEvent in binary mode
 * @param kafkaTopic a Kafka sink (the cluster of {@code igate.kafka.bootstrap-servers}): each payload a
 *                   CloudEvent in binary mode per the Kafka protocol binding
 */
public record PayloadLoggerProperties(String mode, URI url, String kafkaTopic) {

    public PayloadLoggerProperties {
        mode = mode == null ? "all" : mode.trim().toLowerCase(Locale.ROOT);
        if (!mode.matches("all|request|response")) {
            throw new IllegalArgumentException("logger.mode must be all, request or response, was " + mode);
        }
        if (url != null && !String.valueOf(url.getScheme()).startsWith("http")) {
            throw new IllegalArgumentException("logger.url must be an http(s) URL, was " + url);
        }
    }

    public boolean requests() {
        return !mode.equals("response");
    }

    public boolean responses() {
        return !mode.equals("request");
    }
}

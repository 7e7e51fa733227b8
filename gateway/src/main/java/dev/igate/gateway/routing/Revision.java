package dev.igate.gateway.routing;

import java.net.URI;

/**
 * One weighted route of a canary group, as read from the route definitions.
 *
 * @param routeId  the route's id
 * @param group    the Weight predicate's group
 * @param weight   the configured weight
 * @param revision the route's revision name (metadata {@code revision}, e.g. stable or canary)
 * @param model    the model it serves (metadata {@code model}), or null
 * @param version  the in-process model version it forwards to (metadata {@code version}), or null for remote revisions
 * @param uri      the route's target: {@code forward:...} in process, {@code http(s)://...} remote
 * @param autoRollback whether the route's metadata puts it under automatic rollback ({@code auto-rollback: true})
 * @param direct   whether the data plane serves it without the gateway: an in-process target
 *                 ({@code forward:} with a version) behind nothing but {@code Path}, {@code Method} and
 *                 {@code Weight} predicates and a {@code Revision} filter, no payload logger of its own,
 *                 and no default filters configured for every route
 */
public record Revision(String routeId, String group, int weight, String revision, String model, String version, URI uri,
                       boolean autoRollback, boolean direct) {
}

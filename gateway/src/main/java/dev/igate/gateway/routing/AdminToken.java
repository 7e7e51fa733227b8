package dev.igate.gateway.routing;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

import dev.igate.gateway.IgateProperties;
import dev.igate.protocol.ForbiddenException;
import dev.igate.protocol.UnauthorizedException;
import org.springframework.stereotype.Component;

/**
 * The bearer token of the calls that change what the server serves: /admin, and Triton's model
 * repository extension over REST and gRPC. No token configured: those calls are off (403).
 */
@Component
public class AdminToken {

    private final byte[] token;

    public AdminToken(IgateProperties properties) {
        this.token = properties.adminToken() == null ? null : properties.adminToken().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * @param authorization the Authorization header (REST) or authorization metadata (gRPC), or null
     * @throws ForbiddenException    when no token is configured
     * @throws UnauthorizedException when the header does not carry the token
     */
    public void check(String authorization) {
        if (token == null) {
            throw new ForbiddenException("The admin API is disabled: set igate.admin-token (or IGATE_ADMIN_TOKEN)");
        }
        byte[] given = authorization != null && authorization.startsWith("Bearer ")
                ? authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8) : new byte[0];
        // constant time: the comparison must not tell how much of a guess was right
        if (!MessageDigest.isEqual(token, given)) {
            throw new UnauthorizedException("A valid bearer token is required");
        }
    }
}

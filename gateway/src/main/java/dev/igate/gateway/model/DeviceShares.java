package dev.igate.gateway.model;

import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.SessionSettings;

/** Hands a loading version its share of the device it landed on (the model registry owns the gates). */
@FunctionalInterface
interface DeviceShares {

    DeviceShare share(ExecutionProvider provider, SessionSettings settings, InstanceLayout layout);
}

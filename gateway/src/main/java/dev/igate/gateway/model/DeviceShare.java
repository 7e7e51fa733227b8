package dev.igate.gateway.model;

import dev.igate.predictor.batching.DeviceGate;

/**
 * A model version's place on its device: the gate shared by every version there, and how much of
 * it one run on an instance takes.
 *
 * @param gate     the device's gate
 * @param runUnits units of the gate per run (the instance's intra-op threads on a CPU with
 *                 {@code device-runs: auto}, else 1)
 */
record DeviceShare(DeviceGate gate, int runUnits) {
}

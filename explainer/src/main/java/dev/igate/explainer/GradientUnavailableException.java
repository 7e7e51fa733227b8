package dev.igate.explainer;

/**
 * The gradient graph cannot be built for a model, e.g. an operator on the differentiable path
 * has no rule. The message names the operator and the node; the black-box method still works.
 */
public class GradientUnavailableException extends Exception {

    public GradientUnavailableException(String message) {
        super(message);
    }
}

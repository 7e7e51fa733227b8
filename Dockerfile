# The igate image: the packaged server on a JRE 17, as deploy/ expects it (/app/igate.jar, the
# configuration files beside it, started by the manifests' args "java -jar /app/igate.jar ...").
#   CPU:  docker build -t igate:0.1.0 .
#   GPU:  docker build -t igate:0.1.0-gpu --build-arg MAVEN_PROFILES=-Pgpu \
#           --build-arg RUNTIME_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 .
#         (ONNX Runtime's CUDA build needs CUDA 12 and cuDNN 9 in the image; Java is added below)
ARG RUNTIME_IMAGE=eclipse-temurin:17-jre

FROM maven:3.9-eclipse-temurin-17 AS build
ARG MAVEN_PROFILES=""
WORKDIR /src
COPY . .
# the server's jar and the modules it needs; tests run in CI (.ci/run), not in the image build
RUN --mount=type=cache,target=/root/.m2 mvn -B -q -DskipTests ${MAVEN_PROFILES} package -pl gateway -am

FROM ${RUNTIME_IMAGE}
# a CUDA base image has no Java: add the distribution's JRE 17
RUN if ! command -v java >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
COPY --from=build /src/gateway/target/igate.jar /app/igate.jar
COPY --from=build /src/application.yml /src/application-gateway.yml /src/application-transformer.yml /src/application-predictor.yml /app/
# the demo models and the storage cache are written under /app at run time; any uid may run it (OpenShift)
RUN mkdir -p /app/models /app/.igate-cache && chown -R 10001:0 /app && chmod -R g=u /app
USER 10001
# HTTP: 8080 whole server and gateway, 8081 predictor, 8082 transformer; V2 gRPC: 8081 whole server,
# 9081 predictor, 9082 transformer
EXPOSE 8080 8081 8082 9081 9082
ENV JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=40 -XX:+ExitOnOutOfMemoryError" MALLOC_ARENA_MAX=2
CMD ["java", "-jar", "/app/igate.jar"]

{{/* The streamproc config file and the Serve config, both built from values. */}}

{{/* Where Secrets are mounted and which env vars carry them. The config file names the
env vars as ${NAME}; the streamproc config loader expands them when it reads the file. */}}
{{- define "streamproc.kafkaCaDir" -}}/etc/kafka/ca{{- end }}
{{- define "streamproc.kafkaClientDir" -}}/etc/kafka/client{{- end }}

{{- define "streamproc.transport" -}}
{{- $k := .Values.kafka }}
{{- $t := dict "type" "kafka" "bootstrap_servers" $k.bootstrapServers "security_protocol" $k.securityProtocol }}
{{- if $k.sasl.mechanism }}
{{- if not $k.sasl.passwordSecret.name }}
{{- fail "kafka.sasl.mechanism is set: also set kafka.sasl.passwordSecret.name (an existing Secret)" }}
{{- end }}
{{- $_ := set $t "sasl_mechanism" $k.sasl.mechanism }}
{{- $_ := set $t "sasl_username" (required "kafka.sasl.username is required with kafka.sasl.mechanism" $k.sasl.username) }}
{{- $_ := set $t "sasl_password" "${KAFKA_SASL_PASSWORD}" }}
{{- end }}
{{- if $k.tls.caSecret.name }}
{{- $_ := set $t "ssl_cafile" (printf "%s/ca.crt" (include "streamproc.kafkaCaDir" .)) }}
{{- end }}
{{- if $k.tls.clientSecret.name }}
{{- $_ := set $t "ssl_certfile" (printf "%s/tls.crt" (include "streamproc.kafkaClientDir" .)) }}
{{- $_ := set $t "ssl_keyfile" (printf "%s/tls.key" (include "streamproc.kafkaClientDir" .)) }}
{{- end }}
{{- toYaml (merge $t $k.extra) }}
{{- end }}

{{- define "streamproc.state" -}}
{{- $r := .Values.redis }}
{{- $s := dict "type" "redis" "url" $r.url "tls" $r.tls "key_prefix" $r.keyPrefix }}
{{- if $r.passwordSecret.name }}
{{- $_ := set $s "password" "${REDIS_PASSWORD}" }}
{{- end }}
{{- toYaml $s }}
{{- end }}

{{/* config.yaml of the ConfigMap: .Values.config with the chart-owned keys set. */}}
{{- define "streamproc.config" -}}
{{- $serving := dict "deploy" false "artifact" .Values.models.artifact }}
{{- if eq .Values.worker.scoring "http" }}
{{- $_ := set $serving "mode" "http" }}
{{- $_ := set $serving "url" (include "streamproc.serveUrl" .) }}
{{- else if eq .Values.worker.scoring "rayClient" }}
{{- $_ := set $serving "mode" "serve" }}
{{- $_ := set $serving "ray_address" (include "streamproc.rayAddress" .) }}
{{- else }}
{{- fail (printf "worker.scoring must be http or rayClient, got %q" .Values.worker.scoring) }}
{{- end }}
{{- $owned := dict
  "transport" (include "streamproc.transport" . | fromYaml)
  "state" (include "streamproc.state" . | fromYaml)
  "serving" $serving
  "metrics" (dict "port" .Values.metrics.port "ingest_port" .Values.metrics.port) }}
{{- toYaml (mustMergeOverwrite (deepCopy .Values.config) $owned) }}
{{- end }}

{{/* The Serve config file: the same structure as `streamproc serve config --artifact A
--config F` prints for the serving section F holds (streamproc/serving/app.py,
serve_config); tests/deploy/test_deploy_checks.py compares the two. */}}
{{- define "streamproc.serveConfig" -}}
{{- $s := .Values.config.serving }}
{{- if and (gt (float64 $s.num_gpus) 0.0) (eq (int .Values.rayService.worker.gpu) 0) }}
{{- fail "config.serving.num_gpus > 0 but rayService.worker.gpu is 0: no Ray worker would have a GPU" }}
{{- end }}
proxy_location: EveryNode
http_options:
  host: 0.0.0.0
  port: 8000
applications:
  - name: {{ $s.app_name | toJson }}
    route_prefix: {{ $s.route_prefix | toJson }}
    import_path: streamproc.serving.app:build_app
    args:
      artifact: {{ .Values.models.bootArtifact | default .Values.models.artifact | toJson }}
      device: {{ $s.device | toJson }}
      max_batch_size: {{ $s.max_batch_size | toJson }}
      batch_wait_timeout_s: {{ $s.batch_wait_timeout_s | toJson }}
      threads: {{ $s.threads | toJson }}
      frame_cache_frames: {{ $s.frame_cache_frames | toJson }}
      precision: {{ $s.precision | toJson }}
      engine: {{ $s.engine | toJson }}
      forward_windows: {{ $s.forward_windows | toJson }}
      concurrent_batches: {{ $s.concurrent_batches | toJson }}
    deployments:
      - name: {{ $s.deployment_name | toJson }}
        max_ongoing_requests: {{ $s.max_ongoing_requests | toJson }}
        ray_actor_options:
          num_cpus: {{ $s.num_cpus | toJson }}
          num_gpus: {{ $s.num_gpus | toJson }}
        {{- if eq (toString $s.num_replicas) "auto" }}
        autoscaling_config:
          {{- toYaml $s.autoscaling | nindent 10 }}
        {{- else }}
        num_replicas: {{ $s.num_replicas | toJson }}
        {{- end }}
        user_config:
          artifact: {{ .Values.models.artifact | toJson }}
{{- end }}

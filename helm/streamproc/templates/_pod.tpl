{{/* Pieces of pod specs: secret env vars, volumes, mounts, model sync containers. */}}

{{/* Env vars the config file refers to as ${NAME}. */}}
{{- define "streamproc.secretEnv" -}}
{{- $k := .Values.kafka }}
{{- if $k.sasl.mechanism }}
- name: KAFKA_SASL_USERNAME
  value: {{ $k.sasl.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.passwordSecret.name }}
      key: {{ $k.sasl.passwordSecret.key }}
{{- end }}
{{- with .Values.redis.passwordSecret }}
{{- if .name }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Ray auth token for streamproc containers that talk to Ray or the Serve route
(workers); Ray containers get it from KubeRay (authOptions). */}}
{{- define "streamproc.rayAuthEnv" -}}
{{- if .Values.rayAuth.enabled }}
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "streamproc.rayAuthSecret" . }}
      key: auth_token
{{- end }}
{{- end }}

{{/* A container's `env:` block (secret env vars plus `extra`), or nothing.
Call with (dict "ctx" $ "extra" LIST ["rayAuth" true]). */}}
{{- define "streamproc.env" -}}
{{- $env := trim (include "streamproc.secretEnv" .ctx) }}
{{- if .rayAuth }}
{{- $env = trim (printf "%s\n%s" $env (include "streamproc.rayAuthEnv" .ctx)) }}
{{- end }}
{{- if or $env .extra }}
env:
  {{- with $env }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with .extra }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Volumes: (dict "ctx" $ "config" bool "data" bool). */}}
{{- define "streamproc.volumes" -}}
{{- $v := .ctx.Values }}
- name: models
{{- if eq $v.models.storage "pvc" }}
  persistentVolumeClaim:
    claimName: {{ include "streamproc.modelsClaim" .ctx }}
{{- else if eq $v.models.storage "objectStore" }}
  emptyDir: {}
{{- else }}
{{- fail (printf "models.storage must be pvc or objectStore, got %q" $v.models.storage) }}
{{- end }}
{{- if .config }}
- name: config
  configMap:
    name: {{ include "streamproc.fullname" .ctx }}-config
{{- with $v.kafka.tls.caSecret }}{{ if .name }}
- name: kafka-ca
  secret:
    secretName: {{ .name }}
    items: [{key: {{ .key }}, path: ca.crt}]
{{- end }}{{ end }}
{{- with $v.kafka.tls.clientSecret }}{{ if .name }}
- name: kafka-client
  secret:
    secretName: {{ .name }}
    items: [{key: {{ .certKey }}, path: tls.crt}, {key: {{ .keyKey }}, path: tls.key}]
{{- end }}{{ end }}
{{- end }}
{{- if and .data $v.jobs.data.existingClaim }}
- name: data
  persistentVolumeClaim:
    claimName: {{ $v.jobs.data.existingClaim }}
    readOnly: true
{{- end }}
{{- end }}

{{/* Mounts matching streamproc.volumes: (dict "ctx" $ "config" bool "data" bool "writable" bool). */}}
{{- define "streamproc.volumeMounts" -}}
{{- $v := .ctx.Values }}
- name: models
  mountPath: {{ $v.models.mountPath }}
  readOnly: {{ not .writable }}
{{- if .config }}
- name: config
  mountPath: /etc/streamproc
  readOnly: true
{{- if $v.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: {{ include "streamproc.kafkaCaDir" .ctx }}
  readOnly: true
{{- end }}
{{- if $v.kafka.tls.clientSecret.name }}
- name: kafka-client
  mountPath: {{ include "streamproc.kafkaClientDir" .ctx }}
  readOnly: true
{{- end }}
{{- end }}
{{- if and .data $v.jobs.data.existingClaim }}
- name: data
  mountPath: {{ $v.jobs.data.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/* objectStore: a container that copies the remote's artifacts into the models volume,
once (initContainer) or every syncIntervalSeconds (sidecar). rclone is in the image.
Call with (dict "ctx" $ "loop" bool). */}}
{{- define "streamproc.modelSync" -}}
{{- $v := .ctx.Values }}
{{- $o := $v.models.objectStore }}
- name: {{ ternary "model-sync" "model-sync-init" .loop }}
  image: {{ include "streamproc.image" (dict "ctx" .ctx "gpu" 0) }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- include "streamproc.containerSecurity" .ctx | nindent 2 }}
  command: [sh, -c]
  args:
    {{- if .loop }}
    - while true; do rclone copy --quiet "$MODELS_REMOTE" {{ $v.models.mountPath }}; sleep {{ $o.syncIntervalSeconds }}; done
    {{- else }}
    - rclone copy "$MODELS_REMOTE" {{ $v.models.mountPath }}
    {{- end }}
  env:
    - name: MODELS_REMOTE
      value: {{ required "models.objectStore.remote is required with models.storage objectStore" $o.remote | quote }}
  {{- with $o.credentialsSecret }}
  envFrom:
    - secretRef:
        name: {{ . }}
  {{- end }}
  resources:
    requests: {cpu: 50m, memory: 64Mi}
    limits: {cpu: 500m, memory: 256Mi}
  volumeMounts:
    - name: models
      mountPath: {{ $v.models.mountPath }}
{{- end }}

{{- define "streamproc.modelSyncInit" -}}
{{- if eq .Values.models.storage "objectStore" }}
initContainers:
  {{- include "streamproc.modelSync" (dict "ctx" . "loop" false) | trim | nindent 2 }}
{{- end }}
{{- end }}

{{- define "streamproc.modelSyncSidecar" -}}
{{- if eq .Values.models.storage "objectStore" }}
{{- include "streamproc.modelSync" (dict "ctx" . "loop" true) | trim }}
{{- end }}
{{- end }}

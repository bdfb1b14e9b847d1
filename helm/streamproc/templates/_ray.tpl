{{/* Ray pod templates shared by the RayService and the RayJobs.
Call with (dict "ctx" $ "component" "ray-head" "spec" S "head" bool "gpu" N "cuda" bool "job" bool):
S holds resources and optionally nodeSelector, tolerations, affinity; gpu is the pod's
nvidia.com/gpu; cuda picks the CUDA image (every pod of a cluster with GPUs gets it, so
torch is the same build everywhere); job pods also get the config file, the secret env
vars, the data volume and a writable models volume. */}}
{{- define "streamproc.rayPod" -}}
{{- $ctx := .ctx }}
metadata:
  labels:
    {{- include "streamproc.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
spec:
  {{- include "streamproc.podCommon" $ctx | nindent 2 }}
  {{- with include "streamproc.modelSyncInit" $ctx | trim }}{{ . | nindent 2 }}{{ end }}
  containers:
    # KubeRay requires the Ray container first; it sets its command (`ray start ...`).
    - name: {{ .component }}
      image: {{ include "streamproc.image" (dict "ctx" $ctx "gpu" (ternary 1 0 .cuda)) }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      {{- include "streamproc.containerSecurity" $ctx | nindent 6 }}
      {{- if .head }}
      ports:
        - {name: gcs-server, containerPort: 6379}
        - {name: dashboard, containerPort: 8265}
        - {name: client, containerPort: 10001}
        - {name: serve, containerPort: 8000}
        - {name: metrics, containerPort: 8080}
      {{- else }}
      ports:
        - {name: metrics, containerPort: 8080}
      {{- end }}
      {{- if .job }}
      {{- with include "streamproc.env" (dict "ctx" $ctx "extra" list) | trim }}{{ . | nindent 6 }}{{ end }}
      {{- end }}
      resources:
        {{- include "streamproc.resources" (dict "resources" .spec.resources "gpu" .gpu) | nindent 8 }}
      volumeMounts:
        {{- include "streamproc.volumeMounts" (dict "ctx" $ctx "config" .job "data" .job "writable" .job) | trim | nindent 8 }}
    {{- with include "streamproc.modelSyncSidecar" $ctx | trim }}{{ . | nindent 4 }}{{ end }}
  volumes:
    {{- include "streamproc.volumes" (dict "ctx" $ctx "config" .job "data" .job) | trim | nindent 4 }}
  {{- with include "streamproc.scheduling" (dict "ctx" $ctx "spec" .spec "gpu" .gpu) | trim }}{{ . | nindent 2 }}{{ end }}
{{- end }}

{{/* A RayJob on its own short-lived Ray cluster.
Call with (dict "ctx" $ "kind" "train" "entrypoint" "python -m ..." "out" DIR): with
models.storage objectStore, the job uploads `out` to the remote when it succeeds. */}}
{{- define "streamproc.rayJob" -}}
{{- $ctx := .ctx }}
{{- $j := $ctx.Values.jobs }}
{{- $entrypoint := .entrypoint }}
{{- if and .out (eq $ctx.Values.models.storage "objectStore") }}
{{- $remote := printf "%s/%s" $ctx.Values.models.objectStore.remote (trimPrefix (printf "%s/" $ctx.Values.models.mountPath) .out) }}
{{- $entrypoint = printf "%s && rclone copy %s %s" $entrypoint .out $remote }}
{{- end }}
apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: {{ include "streamproc.fullname" $ctx }}-{{ .kind }}-{{ $j.runId }}
  labels:
    {{- include "streamproc.labels" (dict "ctx" $ctx "component" (printf "job-%s" .kind)) | nindent 4 }}
    streamproc.io/run-id: {{ $j.runId | quote }}
spec:
  entrypoint: {{ $entrypoint | quote }}
  shutdownAfterJobFinishes: true
  {{- if $ctx.Values.networkPolicy.ray.enabled }}
  # The operator submits the job itself: a submitter pod would not pass the Ray policy.
  submissionMode: HTTPMode
  {{- end }}
  ttlSecondsAfterFinished: {{ $j.ttlSecondsAfterFinished }}
  activeDeadlineSeconds: {{ $j.activeDeadlineSeconds }}
  rayClusterSpec:
    rayVersion: {{ $ctx.Values.rayService.rayVersion | quote }}
    {{- with include "streamproc.rayAuthOptions" $ctx | trim }}{{ . | nindent 4 }}{{ end }}
    headGroupSpec:
      rayStartParams:
        dashboard-host: 0.0.0.0
      template:
        {{- include "streamproc.rayPod" (dict "ctx" $ctx "component" "job-ray-head" "spec" $j.cluster.head "head" true "gpu" 0 "cuda" (gt (int $j.cluster.worker.gpu) 0) "job" true) | trim | nindent 8 }}
    workerGroupSpecs:
      - groupName: trainers
        replicas: {{ $j.cluster.worker.replicas }}
        minReplicas: {{ $j.cluster.worker.replicas }}
        maxReplicas: {{ $j.cluster.worker.replicas }}
        rayStartParams: {}
        template:
          {{- include "streamproc.rayPod" (dict "ctx" $ctx "component" "job-ray-worker" "spec" $j.cluster.worker "head" false "gpu" $j.cluster.worker.gpu "cuda" (gt (int $j.cluster.worker.gpu) 0) "job" true) | trim | nindent 10 }}
{{- end }}

{{/* The training data claim, required by jobs that read --data. */}}
{{- define "streamproc.requireData" -}}
{{- if not .Values.jobs.data.existingClaim }}
{{- fail "jobs.data.existingClaim is required for training and search jobs (a PVC with the data)" }}
{{- end }}
{{- end }}

{{/* Where a job writes its output: models.mountPath/jobs.runsDir/<runId>[-suffix]. */}}
{{- define "streamproc.runDir" -}}
{{- printf "%s/%s/%s" .Values.models.mountPath .Values.jobs.runsDir .Values.jobs.runId }}
{{- end }}

{{/* Names, labels and small shared pieces. */}}

{{- define "streamproc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or just <release> when it already contains the chart name. */}}
{{- define "streamproc.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "streamproc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "streamproc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streamproc.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's objects and pods. */}}
{{- define "streamproc.labels" -}}
helm.sh/chart: {{ include "streamproc.chart" .ctx }}
{{ include "streamproc.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: streamproc
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{- define "streamproc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "streamproc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The runtime image; (dict "ctx" $ "gpu" N) picks the CUDA variant when N > 0. */}}
{{- define "streamproc.image" -}}
{{- $img := .ctx.Values.image }}
{{- $tag := default .ctx.Chart.AppVersion $img.tag }}
{{- if gt (int .gpu) 0 }}{{ $tag = printf "%s%s" $tag $img.cudaTagSuffix }}{{ end }}
{{- printf "%s:%s" $img.repository $tag }}
{{- end }}

{{/* The Ray Client address of the RayService's head (a Service that follows the active
RayCluster across upgrades). */}}
{{- define "streamproc.rayAddress" -}}
ray://{{ include "streamproc.fullname" . }}-head-svc:10001
{{- end }}

{{/* The Serve HTTP route of the RayService's app (KubeRay's serve Service, which
follows the active RayCluster and only lists ready Serve proxies). */}}
{{- define "streamproc.serveUrl" -}}
http://{{ include "streamproc.fullname" . }}-serve-svc:8000{{ .Values.config.serving.route_prefix }}
{{- end }}

{{/* The Secret holding the Ray auth token under key `auth_token` (KubeRay's key). */}}
{{- define "streamproc.rayAuthSecret" -}}
{{- default (printf "%s-ray-auth" (include "streamproc.fullname" .)) .Values.rayAuth.existingSecret }}
{{- end }}

{{/* `authOptions` of a Ray cluster spec (KubeRay >= 1.5.1): the operator sets
RAY_AUTH_MODE=token and RAY_AUTH_TOKEN from the Secret in every Ray container, and
its own requests (Serve status, job submission) carry the token. */}}
{{- define "streamproc.rayAuthOptions" -}}
{{- if .Values.rayAuth.enabled }}
authOptions:
  mode: token
  secretName: {{ include "streamproc.rayAuthSecret" . }}
{{- end }}
{{- end }}

{{/* Selector of every pod of this release (streamproc and Ray pods alike). */}}
{{- define "streamproc.releasePods" -}}
app.kubernetes.io/name: {{ include "streamproc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "streamproc.modelsClaim" -}}
{{- default (printf "%s-models" (include "streamproc.fullname" .)) .Values.models.pvc.existingClaim }}
{{- end }}

{{/* nodeSelector, tolerations and affinity of a pod; GPU pods also get the gpu values.
Call with (dict "ctx" $ "spec" .Values.worker "gpu" N). */}}
{{- define "streamproc.scheduling" -}}
{{- $gpu := gt (int .gpu) 0 }}
{{- $nodeSelector := .spec.nodeSelector | default dict }}
{{- $tolerations := .spec.tolerations | default list }}
{{- if $gpu }}
{{- $nodeSelector = merge (deepCopy $nodeSelector) .ctx.Values.gpu.nodeSelector }}
{{- $tolerations = concat $tolerations .ctx.Values.gpu.tolerations }}
{{- end }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container resources plus nvidia.com/gpu; (dict "resources" R "gpu" N). */}}
{{- define "streamproc.resources" -}}
{{- $r := deepCopy (.resources | default dict) }}
{{- if gt (int .gpu) 0 }}
{{- $_ := set $r "limits" (merge (dict "nvidia.com/gpu" (int .gpu)) ($r.limits | default dict)) }}
{{- $_ := set $r "requests" (merge (dict "nvidia.com/gpu" (int .gpu)) ($r.requests | default dict)) }}
{{- end }}
{{- toYaml $r }}
{{- end }}

{{/* Pod-level settings every pod of the release shares. */}}
{{- define "streamproc.podCommon" -}}
serviceAccountName: {{ include "streamproc.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 1000
  runAsGroup: 1000
  fsGroup: 1000
{{- end }}

{{/* Container-level hardening shared by every container. */}}
{{- define "streamproc.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
{{- end }}

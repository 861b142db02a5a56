{{/*
Chart name, truncated to 63 chars (DNS label limit).
*/}}
{{- define "circuit-breaker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. If the release name already contains the chart name it is used as is.
*/}}
{{- define "circuit-breaker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "circuit-breaker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "circuit-breaker.labels" -}}
helm.sh/chart: {{ include "circuit-breaker.chart" . }}
{{ include "circuit-breaker.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels (immutable on a Deployment: never add to these).
*/}}
{{- define "circuit-breaker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "circuit-breaker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Service account name.
*/}}
{{- define "circuit-breaker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "circuit-breaker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "circuit-breaker.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Name of the Secret holding REDIS_URL and provider keys: existingSecret, or the one this chart renders.
*/}}
{{- define "circuit-breaker.secretName" -}}
{{- if .Values.existingSecret }}
{{- tpl .Values.existingSecret . }}
{{- else }}
{{- include "circuit-breaker.fullname" . }}
{{- end }}
{{- end }}

{{/*
Name of the ConfigMap holding the CB_CONFIG_FILE overlay.
*/}}
{{- define "circuit-breaker.configMapName" -}}
{{- printf "%s-config" (include "circuit-breaker.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Best-effort conversion of a config duration ("500ms", "25s", "2m", "1h", bare number = ms) to whole seconds,
rounded up. Prints nothing for values it cannot parse.
*/}}
{{- define "circuit-breaker.durationSeconds" -}}
{{- $d := . | toString | trim | lower }}
{{- if regexMatch "^[0-9]+ms$" $d }}
{{- div (add (trimSuffix "ms" $d | atoi) 999) 1000 }}
{{- else if regexMatch "^[0-9]+s$" $d }}
{{- trimSuffix "s" $d | atoi }}
{{- else if regexMatch "^[0-9]+m$" $d }}
{{- mul (trimSuffix "m" $d | atoi) 60 }}
{{- else if regexMatch "^[0-9]+h$" $d }}
{{- mul (trimSuffix "h" $d | atoi) 3600 }}
{{- else if regexMatch "^[0-9]+$" $d }}
{{- div (add (atoi $d) 999) 1000 }}
{{- end }}
{{- end }}

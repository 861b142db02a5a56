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

{{/*
Checks that fail the render with a message naming the value to change. Included by the Deployment.
*/}}
{{- define "circuit-breaker.validate" -}}
{{- $mode := (.Values.auth | default dict).mode | default "" | toString }}
{{- if eq $mode "none" }}
{{- fail "auth.mode none is refused: the pods run with NODE_ENV=production, where Circuit Breaker does not start without authentication. Set auth.mode: jwt with secrets.jwtSecret (HS256, 32+ characters; or CB_JWT_SECRET in existingSecret) or config.auth.jwt.algorithms with public_key_file, jwks_file or jwks_url (RS256, ES256)." }}
{{- else if ne $mode "jwt" }}
{{- fail (printf "auth.mode %q is not a mode: use jwt" $mode) }}
{{- end }}
{{- with (.Values.secrets | default dict).jwtSecret }}
{{- if lt (len (toString .)) 32 }}
{{- fail "secrets.jwtSecret: an HS256 secret needs at least 32 characters (e.g. openssl rand -hex 32)" }}
{{- end }}
{{- end }}
{{- $port := .Values.containerPort }}
{{- if or (lt (int .Values.workers) 1) (ne (toString (int .Values.workers)) (toString .Values.workers)) }}
{{- fail (printf "workers: %v is not a number of processes (1 or more; 0, one per CPU, would count the node's CPUs, not the pod's limit)" .Values.workers) }}
{{- end }}
{{- if not (and (eq (int $port | toString) (toString $port)) (ge (int $port) 1) (le (int $port) 65535)) }}
{{- fail (printf "containerPort: %v is not a port number (1-65535)" $port) }}
{{- end }}
{{- $host := .Values.listenAddress | default "" | toString }}
{{- if or (eq $host "") (eq $host "localhost") (eq $host "::1") (hasPrefix "127." $host) }}
{{- fail (printf "listenAddress: %q would not be reachable from the kubelet's probes or the Service; use 0.0.0.0 (or :: on IPv6 clusters)" $host) }}
{{- end }}
{{- if include "circuit-breaker.redisPasswordSecret" . }}
{{- if not (regexMatch "^rediss?://[^@/?#]+([/?].*)?$" (.Values.redis.url | default "" | toString)) }}
{{- fail "redis.url: with redis.passwordSecret set, give the URL without credentials (redis://host:6379 or rediss://host:6380/0); the chart adds [username]:$(REDIS_PASSWORD)@ itself" }}
{{- end }}
{{- if not (regexMatch "^[A-Za-z0-9._~-]*$" ((.Values.redis.username | default "") | toString)) }}
{{- fail "redis.username: only letters, digits and . _ ~ - can go into the URL unencoded" }}
{{- end }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- if not (or (include "circuit-breaker.cpuTarget" .) ((.Values.autoscaling.activeStreams | default dict).enabled)) }}
{{- fail "autoscaling: give targetCPUUtilizationPercentage or activeStreams.enabled, or the HPA has no metric" }}
{{- end }}
{{- if and (include "circuit-breaker.cpuTarget" .) (not (((.Values.resources | default dict).requests | default dict).cpu)) }}
{{- fail "autoscaling.targetCPUUtilizationPercentage needs resources.requests.cpu (utilization is a share of the request)" }}
{{- end }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail "autoscaling.minReplicas is above autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The existing Secret holding the Redis password, or nothing.
*/}}
{{- define "circuit-breaker.redisPasswordSecret" -}}
{{- ((.Values.redis | default dict).passwordSecret | default dict).name | default "" }}
{{- end }}

{{/*
REDIS_URL with the password from $(REDIS_PASSWORD), which Kubernetes expands from the env var defined before it.
redis://host:6379/0 becomes redis://[username]:$(REDIS_PASSWORD)@host:6379/0.
*/}}
{{- define "circuit-breaker.redisUrlWithPassword" -}}
{{- $url := .Values.redis.url | toString }}
{{- $scheme := ternary "rediss://" "redis://" (hasPrefix "rediss://" $url) }}
{{- printf "%s%s:$(REDIS_PASSWORD)@%s" $scheme (.Values.redis.username | default "" | toString) (trimPrefix $scheme $url) }}
{{- end }}

{{/*
The HPA's CPU utilization target, or nothing when it is unset or 0.
*/}}
{{- define "circuit-breaker.cpuTarget" -}}
{{- with .Values.autoscaling.targetCPUUtilizationPercentage }}{{ int . }}{{ end }}
{{- end }}

{{/*
Replicas the PodDisruptionBudget can count on: the HPA's minimum when it is on, else replicaCount.
*/}}
{{- define "circuit-breaker.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
server.body_limit (from `config`, default 1MB as in config/default.yml) in bytes. Sizes are binary, as the app
reads them: 512B, 64KB, 10MB, 1GB, a bare number is bytes.
*/}}
{{- define "circuit-breaker.bodyLimitBytes" -}}
{{- $limit := ((.Values.config | default dict).server | default dict).body_limit | default "1MB" }}
{{- if kindIs "float64" $limit }}{{ $limit = int $limit }}{{ end }}
{{- $s := $limit | toString | lower | replace " " "" }}
{{- if not (regexMatch "^[0-9]+(b|kb|kib|mb|mib|gb|gib)?$" $s) }}
{{- fail (printf "config.server.body_limit %q: the chart derives the ingress body size from whole numbers only; set ingress.nginx.proxyBodySize" $s) }}
{{- end }}
{{- if regexMatch "^[0-9]+b?$" $s }}{{ trimSuffix "b" $s | atoi }}
{{- else if regexMatch "ki?b$" $s }}{{ mul (regexReplaceAllLiteral "ki?b$" $s "" | atoi) 1024 }}
{{- else if regexMatch "mi?b$" $s }}{{ mul (regexReplaceAllLiteral "mi?b$" $s "" | atoi) 1048576 }}
{{- else }}{{ mul (regexReplaceAllLiteral "gi?b$" $s "" | atoi) 1073741824 }}
{{- end }}
{{- end }}

{{/*
nginx's client_max_body_size for server.body_limit: the same number of bytes, in the largest exact unit.
*/}}
{{- define "circuit-breaker.nginxBodySize" -}}
{{- $bytes := include "circuit-breaker.bodyLimitBytes" . | atoi }}
{{- if and (gt $bytes 0) (eq (mod $bytes 1073741824) 0) }}{{ div $bytes 1073741824 }}g
{{- else if and (gt $bytes 0) (eq (mod $bytes 1048576) 0) }}{{ div $bytes 1048576 }}m
{{- else if and (gt $bytes 0) (eq (mod $bytes 1024) 0) }}{{ div $bytes 1024 }}k
{{- else }}{{ $bytes }}
{{- end }}
{{- end }}

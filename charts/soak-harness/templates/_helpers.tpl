{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "soak.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, unless overridden. */}}
{{- define "soak.fullname" -}}
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

{{- define "soak.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "soak.labels" -}}
helm.sh/chart: {{ include "soak.chart" . }}
app.kubernetes.io/name: {{ include "soak.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels for one component: include "soak.selector" (list $ "toxiproxy"). */}}
{{- define "soak.selector" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "soak.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "soak.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "soak.toxiproxyHost" -}}
{{- printf "%s-toxiproxy" (include "soak.fullname" .) }}
{{- end }}

{{- define "soak.sampleHost" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" (include "soak.fullname" $ctx) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The scenario with an attach: section for this release (unless content has one). */}}
{{- define "soak.scenario" -}}
{{- $scn := deepCopy .Values.scenario.content -}}
{{- if not (hasKey $scn "attach") -}}
{{- $tox := include "soak.toxiproxyHost" . -}}
{{- $proxies := dict -}}
{{- range $name, $p := .Values.scenario.proxies -}}
{{- $up := toString $p.upstream -}}
{{- if not (contains ":" $up) -}}
{{- $up = printf "%s:%v" (include "soak.sampleHost" (list $ $up)) $.Values.samples.port -}}
{{- end -}}
{{- $_ := set $proxies $name (dict "listen" (printf "%s:%v" $tox $p.port) "upstream" $up) -}}
{{- end -}}
{{- $targets := dict -}}
{{- range $target, $sample := .Values.scenario.targets -}}
{{- $base := printf "http://%s:%v" (include "soak.sampleHost" (list $ $sample)) $.Values.samples.port -}}
{{- $_ := set $targets $target (dict "metrics_url" (printf "%s/metrics" $base) "debug_url" (printf "%s/debug/tasks" $base) "health_url" (printf "%s/healthz" $base)) -}}
{{- end -}}
{{- $_ := set $scn "attach" (dict "toxiproxy" (printf "http://%s:%v" $tox .Values.toxiproxy.apiPort) "proxies" $proxies "targets" $targets "timeout" "120s") -}}
{{- end -}}
{{- toYaml $scn }}
{{- end }}

{{/* The harness pod spec, shared by the Job and the CronJob:
include "soak.harnessPod" (list $ HISTORY). With HISTORY true the container runs
`harness history /reports` after the soak (a new history-<UTC stamp>/ stability report on
the reports volume) and still exits with the soak's own exit code. */}}
{{- define "soak.harnessPod" -}}
{{- $ctx := index . 0 -}}
{{- $history := index . 1 -}}
restartPolicy: Never
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: harness
    image: {{ include "soak.image" $ctx | quote }}
    imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
    {{- if $history }}
    command:
      - /bin/sh
      - -c
      - 'harness "$@"; code=$?; harness history /reports || echo "harness history failed" >&2; exit $code'
      - harness-run
    {{- end }}
    args:
      - run
      - /scenario/scenario.yaml
      - --backend
      - attach
      - --duration-scale
      - {{ $ctx.Values.harness.durationScale | quote }}
      {{- range $ctx.Values.harness.extraArgs }}
      - {{ . | quote }}
      {{- end }}
    env:
      - name: HARNESS_REPORTS
        value: /reports
      - name: HARNESS_TARGET_VERSION
        value: {{ default (default $ctx.Chart.AppVersion $ctx.Values.image.tag) $ctx.Values.harness.targetVersion | quote }}
    securityContext:
      {{- toYaml $ctx.Values.securityContext | nindent 6 }}
    resources:
      {{- toYaml $ctx.Values.harness.resources | nindent 6 }}
    volumeMounts:
      - {name: scenario, mountPath: /scenario, readOnly: true}
      - {name: reports, mountPath: /reports}
      - {name: tmp, mountPath: /tmp}
volumes:
  - name: scenario
    configMap:
      name: {{ include "soak.fullname" $ctx }}-scenario
  - name: reports
    {{- if $ctx.Values.reports.persistence.enabled }}
    persistentVolumeClaim:
      claimName: {{ default (printf "%s-reports" (include "soak.fullname" $ctx)) $ctx.Values.reports.persistence.existingClaim }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: tmp
    emptyDir: {}
{{- end }}

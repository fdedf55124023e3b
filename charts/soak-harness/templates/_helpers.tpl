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

{{/* The Kubernetes recommended labels of one component:
include "soak.labels" (list $ "toxiproxy"). part-of is what `harness fetch` looks for. */}}
{{- define "soak.labels" -}}
{{- $ctx := index . 0 -}}
helm.sh/chart: {{ include "soak.chart" $ctx }}
app.kubernetes.io/name: {{ include "soak.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/version: {{ default $ctx.Chart.AppVersion $ctx.Values.image.tag | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/part-of: soak-harness
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- end }}

{{/* Pod template metadata of one component: the recommended labels, podLabels, and
podAnnotations (+ EXTRA): include "soak.podMeta" (list $ "harness" EXTRA-DICT). */}}
{{- define "soak.podMeta" -}}
{{- $ctx := index . 0 -}}
{{- $annotations := merge (dict) (default dict $ctx.Values.podAnnotations) -}}
{{- if gt (len .) 2 }}{{ $annotations = merge $annotations (index . 2) }}{{ end -}}
labels:
  {{- include "soak.labels" (list $ctx (index . 1)) | nindent 2 }}
  {{- with $ctx.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The service account every pod runs as. */}}
{{- define "soak.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "soak.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{/* What every workload's pod spec shares: the chart's service account, and soak.podBase. */}}
{{- define "soak.podCommon" -}}
serviceAccountName: {{ include "soak.serviceAccountName" . }}
{{ include "soak.podBase" . }}
{{- end }}

{{/* "true" when the chart grants the harness read access to the API (rbac.yaml): rbac.create
true, or "auto" (the default) and the scenario has a Kubernetes target (target.kube). */}}
{{- define "soak.rbacEnabled" -}}
{{- $create := .Values.rbac.create -}}
{{- if eq (toString $create) "auto" -}}
{{- if include "soak.kubeNamespaces" . -}}true{{- end -}}
{{- else if $create -}}true{{- end -}}
{{- end }}

{{/* The namespaces of the scenario's Kubernetes targets (target.kube.namespace, each of
targets[].kube.namespace), space-separated, each once; "" when it has none. */}}
{{- define "soak.kubeNamespaces" -}}
{{- $content := .Values.scenario.content | default dict -}}
{{- $all := list -}}
{{- with $content.target }}{{ $all = append $all . }}{{ end -}}
{{- range ($content.targets | default list) }}{{ $all = append $all . }}{{ end -}}
{{- $nss := list -}}
{{- range $all -}}
{{- if and (kindIs "map" .) .kube -}}
{{- $nss = append $nss (.kube.namespace | default "") -}}
{{- end -}}
{{- end -}}
{{- join " " (uniq $nss) -}}
{{- end }}

{{/* No service account token, security context, pull secrets, scheduling. The helm test pod
has only this: it runs as the namespace's default service account, so a server-side dry run
of the rendered chart (where the chart's own service account does not exist yet) accepts it. */}}
{{- define "soak.podBase" -}}
{{- $ctx := . -}}{{- $mount := false -}}
{{- if kindIs "slice" . -}}{{- $ctx = index . 0 -}}{{- $mount = index . 1 -}}{{- end -}}
automountServiceAccountToken: {{ $mount }}
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Locust worker pods: scenario.content.load.workers (0 = Locust in the harness pod). */}}
{{- define "soak.workers" -}}
{{- $load := default dict .Values.scenario.content.load -}}
{{- int (default 0 $load.workers) -}}
{{- end }}

{{- define "soak.claimName" -}}
{{- default (printf "%s-reports" (include "soak.fullname" .)) .Values.reports.persistence.existingClaim }}
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
{{- /* toxiproxy.routes: Services of this namespace behind Toxiproxy, first in the
scenario's proxies (the load goes through the first) unless content names them already */ -}}
{{- $routed := list -}}
{{- range $r := .Values.toxiproxy.routes -}}
{{- $name := $r.name | default $r.service -}}
{{- $up := printf "%s.%s.svc:%v" $r.service $.Release.Namespace $r.port -}}
{{- $_ := set $proxies $name (dict "listen" (printf "%s:%v" $tox ($r.listenPort | default $r.port)) "upstream" $up) -}}
{{- $named := false -}}
{{- range $p := ($scn.proxies | default list) -}}
{{- if eq $p.name $name -}}{{- $named = true -}}{{- end -}}
{{- end -}}
{{- if not $named -}}
{{- $routed = append $routed (dict "name" $name "upstream" $up) -}}
{{- end -}}
{{- end -}}
{{- if $routed -}}
{{- $_ := set $scn "proxies" (concat $routed ($scn.proxies | default list)) -}}
{{- end -}}
{{- $targets := dict -}}
{{- range $target, $sample := .Values.scenario.targets -}}
{{- $base := printf "http://%s:%v" (include "soak.sampleHost" (list $ $sample)) $.Values.samples.port -}}
{{- $_ := set $targets $target (dict "metrics_url" (printf "%s/metrics" $base) "debug_url" (printf "%s/debug/tasks" $base) "health_url" (printf "%s/healthz" $base)) -}}
{{- end -}}
{{- $attach := dict "toxiproxy" (printf "http://%s:%v" $tox .Values.toxiproxy.apiPort) "proxies" $proxies "targets" $targets "timeout" "120s" -}}
{{- if gt (int (include "soak.workers" .)) 0 -}}
{{- $_ := set $attach "locust" (dict "bind" (printf "0.0.0.0:%v" .Values.locust.masterPort) "timeout" .Values.locust.connectTimeout) -}}
{{- end -}}
{{- $_ := set $scn "attach" $attach -}}
{{- end -}}
{{- toYaml $scn }}
{{- end }}

{{/* The harness pod spec, shared by the Job and the CronJob:
include "soak.harnessPod" (list $ HISTORY). The container runs `harness run ... --out
/reports/<scenario>-<UTC stamp>-<pod name>`, then prints the run's junit.xml between
"--- begin junit.xml" and "--- end junit.xml" lines and a last line naming the run folder,
and exits with the run's exit code. With HISTORY it also runs `harness history /reports`
(a history-<UTC stamp>/ stability report on the volume) before that last line. */}}
{{- define "soak.harnessPod" -}}
{{- $ctx := index . 0 -}}
{{- $history := index . 1 -}}
restartPolicy: Never
serviceAccountName: {{ include "soak.serviceAccountName" $ctx }}
{{ include "soak.podBase" (list $ctx (or (eq (include "soak.rbacEnabled" $ctx) "true") $ctx.Values.faults.pods.enabled)) }}
containers:
  - name: harness
    image: {{ include "soak.image" $ctx | quote }}
    imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
    command:
      - /bin/sh
      - -c
      - |
        out="/reports/${SCENARIO_NAME}-$(date -u +%Y%m%dT%H%M%SZ)-${HOSTNAME}"
        harness "$@" --out "$out"; code=$?
        if [ -f "$out/junit.xml" ]; then
          echo "--- begin junit.xml ($out/junit.xml) ---"; cat "$out/junit.xml"; echo
          echo "--- end junit.xml ---"
        fi
        {{- if $history }}
        harness history /reports || echo "harness history failed" >&2
        {{- end }}
        if [ -f "$out/run.json" ]; then
          echo "soak-harness: run folder $out (exit code $code); copy it out with: harness fetch $RELEASE -n $NAMESPACE --run ${out##*/}"
        else
          echo "soak-harness: no run folder written (exit code $code): the lines above say why"
        fi
        exit $code
      - harness-run
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
      - name: SCENARIO_NAME
        value: {{ $ctx.Values.scenario.content.name | quote }}
      - name: RELEASE
        value: {{ $ctx.Release.Name | quote }}
      - name: NAMESPACE
        valueFrom:
          fieldRef: {fieldPath: metadata.namespace}
    {{- if gt (int (include "soak.workers" $ctx)) 0 }}
    ports:
      - {name: locust-master, containerPort: {{ $ctx.Values.locust.masterPort }}, protocol: TCP}
    {{- end }}
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
      claimName: {{ include "soak.claimName" $ctx }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: tmp
    emptyDir: {}
{{- end }}

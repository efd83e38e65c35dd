{{/* Names. Everything a release creates is named from its fullname, so releases never collide. */}}
{{- define "op-kube.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "op-kube.fullname" -}}
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

{{- define "op-kube.operator.fullname" -}}
{{- printf "%s-operator" (include "op-kube.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "op-kube.webhook.fullname" -}}
{{- printf "%s-webhook" (include "op-kube.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "op-kube.webhook.tlsSecretName" -}}
{{- printf "%s-tls" (include "op-kube.webhook.fullname" .) }}
{{- end }}

{{/* The Connect Service and Deployment: onepassword-connect, the host apps' OP_CONNECT_HOST names. */}}
{{- define "op-kube.connect.fullname" -}}
{{- .Values.connect.applicationName | default "onepassword-connect" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
"true" when the chart deploys Connect: connect.create, or when it is unset (1Password's chart
deploys Connect by default) the credentials are given or their Secret exists.
*/}}
{{- define "op-kube.connect.enabled" -}}
{{- $c := .Values.connect }}
{{- if kindIs "bool" $c.create }}
{{- if $c.create }}true{{ end }}
{{- else if and (not .Values.connectLocal.enabled) (or $c.credentials $c.credentials_base64 (and $c.credentialsName (lookup "v1" "Secret" .Release.Namespace $c.credentialsName))) }}
{{- "true" }}
{{- end }}
{{- end }}

{{- define "op-kube.connectLocal.fullname" -}}
{{- printf "%s-connect-local" (include "op-kube.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The label the webhook configuration's objectSelector excludes: the injector's own pods. */}}
{{- define "op-kube.webhook.appName" -}}
{{- .Values.injector.applicationName }}
{{- end }}

{{- define "op-kube.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of objects that also carry a component's selector labels. */}}
{{- define "op-kube.commonLabels" -}}
helm.sh/chart: {{ include "op-kube.chart" . }}
app.kubernetes.io/part-of: op-kube
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "op-kube.labels" -}}
{{ include "op-kube.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "op-kube.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "op-kube.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "op-kube.webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "op-kube.webhook.appName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: injector
{{- end }}

{{- define "op-kube.connect.selectorLabels" -}}
app.kubernetes.io/name: {{ include "op-kube.name" . }}-connect
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: connect
{{- end }}

{{- define "op-kube.connectLocal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "op-kube.name" . }}-connect-local
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: connect-local
{{- end }}

{{/* Connect's API over TLS (1Password's connect.tls.enabled): https on connect.api.httpsPort. */}}
{{- define "op-kube.connect.tls" -}}
{{- if dig "tls" "enabled" false .Values.connect }}true{{ end }}
{{- end }}

{{- define "op-kube.connect.scheme" -}}
{{- ternary "https" "http" (eq (include "op-kube.connect.tls" .) "true") }}
{{- end }}

{{- define "op-kube.connect.apiPort" -}}
{{- if include "op-kube.connect.tls" . }}
{{- dig "api" "httpsPort" 8443 .Values.connect }}
{{- else }}
{{- .Values.connect.api.httpPort }}
{{- end }}
{{- end }}

{{/* The Connect server the operator and injected pods talk to. */}}
{{- define "op-kube.connectHost" -}}
{{- if contains "://" .Values.connect.host }}
{{- .Values.connect.host }}
{{- else if .Values.connect.host }}
{{- /* 1Password's chart: a host name; http on connect.api.httpPort, or https on httpsPort with connect.tls.enabled */}}
{{- printf "%s://%s:%v" (include "op-kube.connect.scheme" .) .Values.connect.host (include "op-kube.connect.apiPort" .) }}
{{- else if include "op-kube.connect.enabled" . }}
{{- printf "%s://%s.%s.svc:%v" (include "op-kube.connect.scheme" .) (include "op-kube.connect.fullname" .) .Release.Namespace (include "op-kube.connect.apiPort" .) }}
{{- else if .Values.connectLocal.enabled }}
{{- printf "http://%s.%s.svc:%v" (include "op-kube.connectLocal.fullname" .) .Release.Namespace .Values.connectLocal.port }}
{{- else }}
{{- "http://onepassword-connect:8080" }}
{{- end }}
{{- end }}

{{- define "op-kube.image" -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* The restricted Pod Security profile, for every container. */}}
{{/* A component's securityContext / podSecurityContext (1Password's chart values) replace these defaults. */}}
{{- define "op-kube.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "op-kube.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsUser }}
fsGroup: {{ .runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* nodeSelector, tolerations, affinity, priorityClassName and pull secrets of a component. */}}
{{- define "op-kube.scheduling" -}}
{{- $pull := list }}
{{- range .root.Values.imagePullSecrets }}
{{- $pull = append $pull . }}
{{- end }}
{{- /* A component's own pull secrets: names, as 1Password's charts take them, or {name: ...} */}}
{{- range (.component.imagePullSecrets | default list) }}
{{- $pull = append $pull (ternary (dict "name" .) . (kindIs "string" .)) }}
{{- end }}
{{- with $pull }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "op-kube.validate" -}}
{{- $serviceAccount := eq (.Values.operator.authMethod | default "connect") "service-account" }}
{{- if and .Values.operator.create (not $serviceAccount) (not .Values.operator.token.name) }}
{{- fail "operator.token.name is required: the Secret holding the Connect token" }}
{{- end }}
{{- if and .Values.operator.create $serviceAccount (not .Values.operator.serviceAccountToken.name) }}
{{- fail "operator.serviceAccountToken.name is required with operator.authMethod=service-account: the Secret holding the service-account token" }}
{{- end }}
{{- $perNamespace := eq (.Values.operator.tokenSource | default "env") "namespace" }}
{{- if and .Values.operator.create $perNamespace $serviceAccount }}
{{- fail "operator.tokenSource=namespace reads Connect tokens: it needs operator.authMethod=connect, not service-account" }}
{{- end }}
{{- $distribution := dig "tokenCopies" "namespaceSelector" "" .Values.operator }}
{{- if and .Values.operator.create (or $perNamespace $distribution) .Values.injector.create (or (ne .Values.injector.tokenSecretName .Values.operator.namespaceToken.name) (ne .Values.injector.tokenSecretKey .Values.operator.namespaceToken.key)) }}
{{- fail "operator.tokenSource=namespace or operator.tokenCopies: injector.tokenSecretName/tokenSecretKey must equal operator.namespaceToken.name/key, so injected pods use the same Secret as the operator in their namespace" }}
{{- end }}
{{- if and .Values.operator.create $distribution $serviceAccount }}
{{- fail "operator.tokenCopies copies the Connect token Secret operator.token: it needs operator.authMethod=connect, not service-account" }}
{{- end }}
{{- if and .Values.connectLocal.enabled $serviceAccount }}
{{- fail "connectLocal.enabled gives the operator a Connect token: it needs operator.authMethod=connect, not service-account" }}
{{- end }}
{{- if and .Values.connectLocal.enabled (include "op-kube.connect.enabled" .) }}
{{- fail "connect.create and connectLocal.enabled both deploy a Connect server: enable one" }}
{{- end }}
{{- if and .Values.connectLocal.enabled .Values.operator.token.value }}
{{- fail "connectLocal.enabled writes its own token into the Secret operator.token.name: leave operator.token.value empty" }}
{{- end }}
{{- if and .Values.connectLocal.enabled (not .Values.operator.token.name) }}
{{- fail "connectLocal.enabled needs operator.token.name: the Secret connect-local fills with its token" }}
{{- end }}
{{- if and (include "op-kube.connect.enabled" .) (not .Values.connect.credentials) (not .Values.connect.credentials_base64) (not .Values.connect.credentialsName) }}
{{- fail "connect.create needs connect.credentials (--set-file connect.credentials=1password-credentials.json), connect.credentials_base64 or an existing Secret in connect.credentialsName" }}
{{- end }}
{{- end }}

{{/*
What the operator does in a namespace it watches (every namespace when operator.watchNamespace is
empty). Secrets: it creates and server-side applies (PATCH) the Secrets it syncs, merge-patches
away stale keys, deletes those annotated Deployments no longer ask for, and watches them to restore
hand edits; it never replaces one (PUT), so no `update`. Workloads: it patches a pod-template
annotation to restart those using a changed Secret, and watches Deployments for 1Password's
item-path annotations. Status: merge patches only. Items and Deployments: a JSON patch takes
1Password's finalizer away once its clean-up ran (the object is being deleted).
*/}}
{{- define "op-kube.operator.rules" -}}
- apiGroups: [onepassword.com]
  resources: [onepassworditems]
  verbs: [get, list, watch, patch]
- apiGroups: [onepassword.com]
  resources: [onepassworditems/status]
  verbs: [patch]
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, watch, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
A component's customEnvVars: container env entries; a plain value is quoted as 1Password's charts
do (`value: 123` is the string "123").
*/}}
{{- define "op-kube.customEnv" -}}
{{- range . }}
{{- if and (hasKey . "value") (not (kindIs "invalid" .value)) }}
{{- list (set (deepCopy .) "value" (toString .value)) | toYaml | nindent 0 }}
{{- else }}
{{- list . | toYaml | nindent 0 }}
{{- end }}
{{- end }}
{{- end }}


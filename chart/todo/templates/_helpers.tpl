{{/*
Shared names, labels and fragments. Every template takes its names from here so the
cross-part contract (release `todo` -> Services `todo-backend`, `todo-frontend`) holds.
*/}}

{{- define "todo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, as `helm create` does: the release name alone when it already
contains the chart name (release `todo` -> `todo`), else `<release>-<chart>`.
Truncated to 40 characters so every `<fullname>-<component>` stays within 63.
*/}}
{{- define "todo.fullname" -}}
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

{{- define "todo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "todo.backend.fullname" -}}{{ include "todo.fullname" . }}-backend{{- end }}
{{- define "todo.frontend.fullname" -}}{{ include "todo.fullname" . }}-frontend{{- end }}
{{- define "todo.postgresql.fullname" -}}{{ include "todo.fullname" . }}-postgresql{{- end }}
{{- define "todo.migrations.fullname" -}}{{ include "todo.fullname" . }}-migrations{{- end }}

{{/* The fewest replicas a tier (its values: .Values.backend or .Values.frontend) runs: its HPA's
minReplicas when autoscaling, else replicaCount. */}}
{{- define "todo.minReplicas" -}}
{{- if .autoscaling.enabled }}{{ .autoscaling.minReplicas }}{{ else }}{{ .replicaCount }}{{ end }}
{{- end }}

{{/* Common labels (without component). */}}
{{- define "todo.labels" -}}
helm.sh/chart: {{ include "todo.chart" . }}
{{ include "todo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: todo
{{- end }}

{{/*
Selector labels: name + instance only (component is added per workload). Never put the
version or chart label in a selector: selectors are immutable and upgrades would fail.
*/}}
{{- define "todo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels for one component. Call with (dict "ctx" $ "component" "backend"). */}}
{{- define "todo.componentLabels" -}}
{{ include "todo.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "todo.componentSelectorLabels" -}}
{{ include "todo.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
A tier's replicas on different nodes when there are several. Soft (ScheduleAnyway), so that a node
short of room, or a single node, still gets them all. The scheduler weighs it against its other
scores, so it is counted per revision (pod-template-hash) and over nodes that accept pods
(nodeTaintsPolicy Honor):
- counted over every revision, a rollout restart after a drain put both replicas on the
  uncordoned node (the surge pod balanced against old pods about to go, and the emptier node
  won the tie); losing that node then lost the tier (503 to every request until replacements
  were Ready);
- a cordoned or unreachable node (tainted NoSchedule) is no domain to balance against.
Call with (dict "ctx" $ "component" "backend").
*/}}
{{- define "todo.spreadOverNodes" -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    nodeTaintsPolicy: Honor
    matchLabelKeys:
      - pod-template-hash
    labelSelector:
      matchLabels:
        {{- include "todo.componentSelectorLabels" . | nindent 8 }}
{{- end }}

{{- define "todo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "todo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The pod spec's imagePullSecrets from .Values.imagePullSecrets (names); nothing when empty.
*/}}
{{- define "todo.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Image reference. Tags are required and `latest` is refused: the deploy tags images with
the git sha so that a rollout is reproducible. Call with (dict "image" .Values.backend.image "path" "backend.image").
*/}}
{{- define "todo.image" -}}
{{- $tag := toString (.image.tag | default "") -}}
{{- if not $tag -}}
{{- fail (printf "%s.tag is required: set it to the image tag to deploy (the short git sha), e.g. --set %s.tag=$(git rev-parse --short HEAD)" .path .path) -}}
{{- end -}}
{{- if eq $tag "latest" -}}
{{- fail (printf "%s.tag must not be 'latest': use an immutable tag such as the short git sha" .path) -}}
{{- end -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end }}

{{/*
Secret source. Exactly one of:
  - existingSecret: name of a Secret created outside the chart (the Ansible secrets role creates `todo-secrets-<content digest>`);
  - secrets.*: the chart creates the Secret from values passed at install time (--set, never a values file).
DATABASE_URL comes from the chart-managed `<fullname>-postgresql` Secret when postgresql.enabled=true.
This helper renders nothing; it fails rendering with a message naming the value to set.
*/}}
{{- define "todo.validateSecrets" -}}
{{- $s := .Values.secrets -}}
{{- $chartValues := or $s.databaseUrl $s.authSecret $s.openaiApiKey -}}
{{- if and .Values.existingSecret $chartValues -}}
{{- fail "set either existingSecret or secrets.* (secrets.databaseUrl, secrets.authSecret, secrets.openaiApiKey), not both" -}}
{{- end -}}
{{- if not .Values.existingSecret -}}
{{- if not $chartValues -}}
{{- fail "no secret source: set existingSecret to the name of a Secret holding DATABASE_URL and AUTH_SECRET (e.g. --set existingSecret=todo-secrets), or pass secrets.authSecret and secrets.databaseUrl (or postgresql.enabled=true) with --set" -}}
{{- end -}}
{{- if not $s.authSecret -}}
{{- fail "secrets.authSecret is required when the chart creates the Secret (or set existingSecret instead)" -}}
{{- end -}}
{{- if and (not $s.databaseUrl) (not .Values.postgresql.enabled) -}}
{{- fail "secrets.databaseUrl is required when the chart creates the Secret and postgresql.enabled=false (or set postgresql.enabled=true for an in-cluster database)" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Name of the Secret the pods read AUTH_SECRET / OPENAI_API_KEY (and DATABASE_URL unless postgresql) from. */}}
{{- define "todo.secretName" -}}
{{- if .Values.existingSecret }}{{ .Values.existingSecret }}{{ else }}{{ include "todo.fullname" . }}{{ end }}
{{- end }}

{{/*
Secret the migration hook Job reads DATABASE_URL from (unless postgresql.enabled, where it is
`<fullname>-postgresql`). At pre-install time the chart's own (non-hook) Secret does not exist
yet, so in chart-created mode the Job reads a hook copy holding only DATABASE_URL
(`<fullname>-migrations`, created just before the Job, deleted after it succeeds).
An existingSecret is created before helm runs, so the Job reads it directly.
*/}}
{{- define "todo.migrations.secretName" -}}
{{- if .Values.existingSecret }}{{ .Values.existingSecret }}{{ else }}{{ include "todo.migrations.fullname" . }}{{ end }}
{{- end }}

{{/* Data of the chart-created Secret (chart-created mode only). Keys are omitted when empty. */}}
{{- define "todo.secretData" -}}
AUTH_SECRET: {{ .Values.secrets.authSecret | b64enc | quote }}
{{- if and .Values.secrets.databaseUrl (not .Values.postgresql.enabled) }}
DATABASE_URL: {{ .Values.secrets.databaseUrl | b64enc | quote }}
{{- end }}
{{- if .Values.secrets.openaiApiKey }}
OPENAI_API_KEY: {{ .Values.secrets.openaiApiKey | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Non-secret configuration shared by the ConfigMap, its hook copy and the checksum. */}}
{{- define "todo.configData" -}}
API_BASE_URL: {{ printf "http://%s:%v" (include "todo.backend.fullname" .) .Values.backend.service.port | quote }}
ENVIRONMENT: {{ .Values.config.environment | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
OPENAI_MODEL: {{ .Values.config.openaiModel | quote }}
OPENAI_BASE_URL: {{ .Values.config.openaiBaseUrl | quote }}
OPENAI_TIMEOUT_SECONDS: {{ .Values.config.openaiTimeoutSeconds | toString | quote }}
DB_POOL_SIZE: {{ .Values.config.dbPoolSize | toString | quote }}
DB_MAX_OVERFLOW: {{ .Values.config.dbMaxOverflow | toString | quote }}
DB_CONNECT_TIMEOUT_SECONDS: {{ .Values.config.dbConnectTimeoutSeconds | toString | quote }}
ACCESS_TOKEN_EXPIRE_MINUTES: {{ .Values.config.accessTokenExpireMinutes | toString | quote }}
COOKIE_SECURE: {{ include "todo.cookieSecure" . | quote }}
WEB_CONCURRENCY: {{ include "todo.webConcurrency" . | quote }}
API_DOCS_ENABLED: {{ .Values.config.apiDocsEnabled | toString | quote }}
TRUSTED_PROXIES: {{ .Values.config.trustedProxies | quote }}
ALLOWED_ORIGINS: {{ .Values.config.allowedOrigins | quote }}
PASSWORD_HASH_CONCURRENCY: {{ .Values.config.passwordHashConcurrency | toString | quote }}
AUTH_RATE_PER_ADDRESS: {{ .Values.config.authRatePerAddress | toString | quote }}
AUTH_RATE_PER_ACCOUNT: {{ .Values.config.authRatePerAccount | toString | quote }}
ASSISTANT_TURNS_PER_HOUR: {{ .Values.config.assistantTurnsPerHour | toString | quote }}
PASSWORD_HASH_QUEUE: {{ .Values.config.passwordHashQueue | int64 | toString | quote }}
AUTH_SLOWDOWN_PER_ACCOUNT: {{ .Values.config.authSlowdownPerAccount | int64 | toString | quote }}
DB_STATEMENT_TIMEOUT_MS: {{ .Values.config.dbStatementTimeoutMs | int64 | toString | quote }}
MAX_TASKS_PER_USER: {{ .Values.config.maxTasksPerUser | int64 | toString | quote }}
ASSISTANT_TOKENS_PER_USER_PER_DAY: {{ .Values.config.assistantTokensPerUserPerDay | int64 | toString | quote }}
ASSISTANT_TOKENS_PER_DAY: {{ .Values.config.assistantTokensPerDay | int64 | toString | quote }}
{{- end }}

{{/*
WEB_CONCURRENCY: config.webConcurrency when set; unset (null), one uvicorn worker per CPU of
the backend's CPU limit (which the schema requires), rounded up: "500m" and "1" give 1,
"1500m" and "2" give 2. A worker is one Python process, which runs Python on one CPU at a time:
fewer workers than the limit leave CPU unused, more only share the same quota while each
holds its own memory and database pool.
*/}}
{{- define "todo.webConcurrency" -}}
{{- if not (kindIs "invalid" .Values.config.webConcurrency) -}}
{{- .Values.config.webConcurrency | toString -}}
{{- else -}}
{{- $cpu := dig "limits" "cpu" "" (.Values.backend.resources | default dict) | toString | trim -}}
{{- $cores := 1.0 -}}
{{- if hasSuffix "m" $cpu -}}
{{- $cores = divf (trimSuffix "m" $cpu | float64) 1000 -}}
{{- else if $cpu -}}
{{- $cores = $cpu | float64 -}}
{{- end -}}
{{- max 1 (ceil $cores | int) -}}
{{- end -}}
{{- end }}

{{/*
COOKIE_SECURE: config.cookieSecure when set (true/false); unset (null), it follows the
Ingress: a browser behind HTTPS must never get the session cookie without Secure.
*/}}
{{- define "todo.cookieSecure" -}}
{{- if kindIs "bool" .Values.config.cookieSecure -}}
{{- .Values.config.cookieSecure -}}
{{- else -}}
{{- and .Values.ingress.enabled .Values.ingress.tls.enabled -}}
{{- end -}}
{{- end }}

{{/*
Backend config keys read from the ConfigMap: every key of todo.configData (their one owner)
in its order, but API_BASE_URL, which is the frontend's.
*/}}
{{- define "todo.backendConfigKeys" -}}
{{- $keys := list -}}
{{- range (splitList "\n" (include "todo.configData" .)) -}}
{{- $key := splitList ":" . | first | trim -}}
{{- if and $key (ne $key "API_BASE_URL") -}}
{{- $keys = append $keys $key -}}
{{- end -}}
{{- end -}}
{{- join " " $keys -}}
{{- end }}

{{/*
Backend environment, shared by the Deployment and the migration Job. Secrets only through
secretKeyRef, never as literal values. "api" false (the migration Job) leaves out the auth
and OpenAI keys, since `todo-api migrate` reads only the database settings.
Call with (dict "ctx" $ "configMap" <name> "secret" <name> "api" true|false).
*/}}
{{- define "todo.backendEnv" -}}
{{- $ctx := .ctx -}}
{{- range (splitList " " (include "todo.backendConfigKeys" $ctx)) }}
- name: {{ . }}
  valueFrom:
    configMapKeyRef:
      name: {{ $.configMap }}
      key: {{ . }}
{{- end }}
{{- if and $ctx.Values.postgresql.enabled (not .api) }}
{{- /* The migration Job: the owner's URL, and the API's, whose role it creates and grants. */}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "todo.postgresql.fullname" $ctx }}
      key: MIGRATION_DATABASE_URL
- name: APP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "todo.postgresql.fullname" $ctx }}
      key: DATABASE_URL
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if $ctx.Values.postgresql.enabled }}
      name: {{ include "todo.postgresql.fullname" $ctx }}
      {{- else }}
      name: {{ .secret }}
      {{- end }}
      key: DATABASE_URL
{{- end }}
{{- if .api }}
- name: AUTH_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: AUTH_SECRET
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: OPENAI_API_KEY
      # The assistant answers "not configured" without a key; everything else works.
      optional: true
{{- end }}
{{- end }}

{{/*
checksum/secret: the one thing that rolls the backend when secret content changes. For an
existingSecret the chart cannot see the values: it takes the digest its writer passes
(existingSecretChecksum, what the Ansible deploy does), else it hashes the live Secret
(lookup; empty under `helm template`).
*/}}
{{- define "todo.secretChecksum" -}}
{{- $parts := list -}}
{{- if and .Values.existingSecret .Values.existingSecretChecksum -}}
{{- $parts = append $parts (printf "%s=%s" .Values.existingSecret .Values.existingSecretChecksum) -}}
{{- else if .Values.existingSecret -}}
{{- $live := lookup "v1" "Secret" .Release.Namespace .Values.existingSecret -}}
{{- $parts = append $parts (printf "%s=%s" .Values.existingSecret (toJson (dig "data" dict $live))) -}}
{{- else -}}
{{- $parts = append $parts (include "todo.secretData" .) -}}
{{- end -}}
{{- if .Values.postgresql.enabled -}}
{{- $parts = append $parts (include "todo.postgresql.secretData" .) -}}
{{- end -}}
{{- join "\n" $parts | sha256sum -}}
{{- end }}

{{/* Pod-level security context (restricted Pod Security Standard). */}}
{{- define "todo.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context (restricted Pod Security Standard). */}}
{{- define "todo.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* HTTP probe. Call with (dict "path" "/x" "port" "http" "p" .Values.backend.probes.liveness). */}}
{{- define "todo.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
initialDelaySeconds: {{ .p.initialDelaySeconds }}
periodSeconds: {{ .p.periodSeconds }}
timeoutSeconds: {{ .p.timeoutSeconds }}
failureThreshold: {{ .p.failureThreshold }}
successThreshold: {{ .p.successThreshold | default 1 }}
{{- end }}

{{/*
Embedded PostgreSQL password: generated once, then read back from the live Secret on every
later render (lookup), so upgrades keep the password that the data directory was initialised with.
*/}}
{{- define "todo.postgresql.password" -}}
{{- include "todo.postgresql.keptPassword" (dict "ctx" . "key" "POSTGRES_PASSWORD") -}}
{{- end }}

{{/*
A generated password kept in the live Secret `<fullname>-postgresql` under `key`: generated
once, read back on every later render (lookup). Call with (dict "ctx" $ "key" "APP_PASSWORD").
*/}}
{{- define "todo.postgresql.keptPassword" -}}
{{- $ctx := .ctx -}}
{{- $live := lookup "v1" "Secret" $ctx.Release.Namespace (include "todo.postgresql.fullname" $ctx) -}}
{{- $existing := dig "data" .key "" $live -}}
{{- if $existing -}}
{{- $existing | b64dec -}}
{{- else -}}
{{- /* cache per render so the Secret and the checksum agree */ -}}
{{- $cache := printf "_generated_%s" .key -}}
{{- if not (hasKey $ctx.Values.postgresql $cache) -}}
{{- $_ := set $ctx.Values.postgresql $cache (randAlphaNum 32) -}}
{{- end -}}
{{- get $ctx.Values.postgresql $cache -}}
{{- end -}}
{{- end }}

{{/*
Two roles (least privilege): the owner (POSTGRES_USER, the image's initdb superuser) runs the
migrations with MIGRATION_DATABASE_URL; the API connects with DATABASE_URL as
postgresql.auth.appUsername, a role the migration Job creates and grants row access only.
*/}}
{{- define "todo.postgresql.secretData" -}}
{{- $pg := .Values.postgresql -}}
{{- $password := include "todo.postgresql.password" . -}}
{{- $appPassword := include "todo.postgresql.keptPassword" (dict "ctx" . "key" "APP_PASSWORD") -}}
{{- $hostPath := printf "%s:%v/%s" (include "todo.postgresql.fullname" .) $pg.service.port $pg.auth.database }}
POSTGRES_PASSWORD: {{ $password | b64enc | quote }}
APP_PASSWORD: {{ $appPassword | b64enc | quote }}
MIGRATION_DATABASE_URL: {{ printf "postgresql://%s:%s@%s" $pg.auth.username $password $hostPath | b64enc | quote }}
DATABASE_URL: {{ printf "postgresql://%s:%s@%s" $pg.auth.appUsername $appPassword $hostPath | b64enc | quote }}
{{- end }}

{{/*
Phase of the migration hook and of the hook resources it reads. Normally pre-install,pre-upgrade:
the schema is migrated before new pods start. With the embedded PostgreSQL the database is a
normal release resource that does not exist before the install, so while its StatefulSet is
not live yet (first install, or postgresql just switched on) the migration runs post-install /
post-upgrade instead (the Job retries with back-off until the database accepts connections).
*/}}
{{- define "todo.migrations.hookPhases" -}}
{{- if .Values.postgresql.enabled -}}
{{- $sts := lookup "apps/v1" "StatefulSet" .Release.Namespace (include "todo.postgresql.fullname" .) -}}
{{- if $sts -}}pre-install,pre-upgrade{{- else -}}post-install,post-upgrade{{- end -}}
{{- else -}}
pre-install,pre-upgrade
{{- end -}}
{{- end }}

{{/* NetworkPolicy peer: pods of this release with one of the given components. */}}
{{- define "todo.podPeer" -}}
- podSelector:
    matchLabels:
      {{- include "todo.selectorLabels" .ctx | nindent 6 }}
    matchExpressions:
      - key: app.kubernetes.io/component
        operator: In
        values:
          {{- toYaml .components | nindent 10 }}
{{- end }}

{{/* NetworkPolicy egress rule for DNS (any resolver address: kube-dns or a node-local cache). */}}
{{- define "todo.dnsEgress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/*
NetworkPolicy egress rule for the database: the embedded PostgreSQL pod only when it is the
database; an external one (Neon) has no fixed address, so the port to anywhere.
*/}}
{{- define "todo.databaseEgress" -}}
{{- if .Values.postgresql.enabled -}}
- to:
    {{- include "todo.podPeer" (dict "ctx" . "components" (list "postgresql")) | nindent 4 }}
  ports:
    - port: 5432
      protocol: TCP
{{- else -}}
- ports:
    - port: {{ .Values.networkPolicy.databasePort }}
      protocol: TCP
{{- end -}}
{{- end }}

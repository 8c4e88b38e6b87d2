{{/*
Names and labels of the chart's objects.
*/}}

{{/* The chart's name: "kiln" or nameOverride. */}}
{{- define "kiln.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name: the release name when it holds the chart's, else "<release>-kiln". */}}
{{- define "kiln.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "kiln-0.1.0" */}}
{{- define "kiln.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "kiln.labels" -}}
helm.sh/chart: {{ include "kiln.chart" . }}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kiln
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component: (dict "root" $ "component" "operator"). */}}
{{- define "kiln.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kiln.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of a component's objects: (dict "root" $ "component" "operator"). */}}
{{- define "kiln.componentLabels" -}}
{{ include "kiln.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The operator's objects: Deployment, admission Service. */}}
{{- define "kiln.operator.fullname" -}}
{{- printf "%s-operator" (include "kiln.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The operator's admission Service, called by the API server (443 -> the webhook port). */}}
{{- define "kiln.operator.webhookService" -}}
{{- include "kiln.operator.fullname" . -}}
{{- end -}}

{{- define "kiln.operator.metricsService" -}}
{{- printf "%s-metrics" (include "kiln.operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kiln.operator.serviceAccount" -}}
{{- default (include "kiln.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- end -}}

{{/* The receiver's objects: Deployment, Service, Ingress. */}}
{{- define "kiln.receiver.fullname" -}}
{{- printf "%s-receiver" (include "kiln.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kiln.receiver.metricsService" -}}
{{- printf "%s-metrics" (include "kiln.receiver.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kiln.receiver.serviceAccount" -}}
{{- default (include "kiln.receiver.fullname" .) .Values.receiver.serviceAccount.name -}}
{{- end -}}

{{/* The Kubernetes user of the receiver's ServiceAccount. */}}
{{- define "kiln.receiver.user" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "kiln.receiver.serviceAccount" .) -}}
{{- end -}}

{{/* The Kubernetes user of the operator's ServiceAccount (resync creates BuildRuns as it). */}}
{{- define "kiln.operator.user" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "kiln.operator.serviceAccount" .) -}}
{{- end -}}

{{/* The ClusterKopfPeering the operator's replicas share: named after the release. */}}
{{- define "kiln.peering" -}}
{{- .Release.Name -}}
{{- end -}}

{{- define "kiln.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The pods' security context: never root, a numeric user, the runtime's default seccomp profile. */}}
{{- define "kiln.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Each container's: no privilege escalation, no capabilities, a read-only root file system. */}}
{{- define "kiln.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* A component's default affinity: its replicas on different nodes when there are enough. */}}
{{- define "kiln.affinity" -}}
{{- if .affinity -}}
{{ toYaml .affinity }}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "kiln.selectorLabels" (dict "root" .root "component" .component) | nindent 12 }}
{{- end -}}
{{- end -}}

{{/* "a=b,c=d" from a map (sorted by key, as Helm ranges over maps). */}}
{{- define "kiln.pairs" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The PodDisruptionBudget API of the cluster: policy/v1 from 1.21, policy/v1beta1 before. */}}
{{- define "kiln.pdbApiVersion" -}}
{{- if semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

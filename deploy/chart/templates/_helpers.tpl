{{- define "aim-engine.fullname" -}}
{{- if contains "aim-engine" .Release.Name -}}
{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}
{{ printf "%s-aim-engine" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}
{{- end -}}
{{- define "aim-engine.labels" -}}
app.kubernetes.io/name: aim-engine
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "aim-engine.selector" -}}
app.kubernetes.io/name: aim-engine
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

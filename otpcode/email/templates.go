package email

// The built-in templates. Subjects leave the code out, so it does not show
// in notification previews and mail logs that record subjects.

const ptBRSubject = `Seu código de verificação`

const ptBRText = `Olá{{with .Name}}, {{.}}{{end}}!

Seu código de verificação é: {{.Code}}
{{if eq .Minutes 1}}
Ele expira em 1 minuto.
{{- else if .Minutes}}
Ele expira em {{.Minutes}} minutos.
{{- end}}

Não compartilhe este código com ninguém: nossa equipe nunca vai pedi-lo.
Se você não pediu este código, ignore este e-mail.
`

const ptBRHTML = `<!DOCTYPE html>
<html lang="pt-BR">
<head><meta charset="utf-8"><title>Seu código de verificação</title></head>
<body style="font-family: Arial, sans-serif; color: #222222;">
<p>Olá{{with .Name}}, {{.}}{{end}}!</p>
<p>Seu código de verificação é:</p>
<p style="font-size: 28px; font-weight: bold; letter-spacing: 4px;">{{.Code}}</p>
{{- if eq .Minutes 1}}
<p>Ele expira em 1 minuto.</p>
{{- else if .Minutes}}
<p>Ele expira em {{.Minutes}} minutos.</p>
{{- end}}
<p>Não compartilhe este código com ninguém: nossa equipe nunca vai pedi-lo.</p>
<p style="color: #666666;">Se você não pediu este código, ignore este e-mail.</p>
</body>
</html>
`

const enSubject = `Your verification code`

const enText = `Hello{{with .Name}} {{.}}{{end}},

Your verification code is: {{.Code}}
{{if eq .Minutes 1}}
It expires in 1 minute.
{{- else if .Minutes}}
It expires in {{.Minutes}} minutes.
{{- end}}

Do not share this code with anyone: our team will never ask for it.
If you did not request this code, ignore this email.
`

const enHTML = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Your verification code</title></head>
<body style="font-family: Arial, sans-serif; color: #222222;">
<p>Hello{{with .Name}} {{.}}{{end}},</p>
<p>Your verification code is:</p>
<p style="font-size: 28px; font-weight: bold; letter-spacing: 4px;">{{.Code}}</p>
{{- if eq .Minutes 1}}
<p>It expires in 1 minute.</p>
{{- else if .Minutes}}
<p>It expires in {{.Minutes}} minutes.</p>
{{- end}}
<p>Do not share this code with anyone: our team will never ask for it.</p>
<p style="color: #666666;">If you did not request this code, ignore this email.</p>
</body>
</html>
`

// Package powershell holds the PowerShell rule family: a small PowerShell
// tokenizer, Remove-Item judged like rm, Invoke-Expression and script blocks
// judged again, and pwsh -Command / -EncodedCommand in a bash command line.
package powershell

/*
  Specimen default ruleset: shipped with the project, applied when no ruleset version is active.
  Every rule carries `score` (0-100) and `severity` (clean | suspicious | malicious); verdicts come from
  these. No live malware content: only the EICAR test string and structural markers.
*/

import "pe"

rule EICAR_Test_File : test
{
  meta:
    description = "EICAR anti-virus test file (the 68-byte string at offset 0, optionally padded)"
    reference = "https://www.eicar.org/download-anti-malware-testfile/"
    score = 100
    severity = "malicious"
  strings:
    $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
  condition:
    $eicar at 0 and filesize <= 128
}

rule EICAR_Test_String_Embedded : test
{
  meta:
    description = "EICAR test string inside a larger file, archive member or memory region"
    score = 50
    severity = "suspicious"
  strings:
    $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
  condition:
    $eicar and not EICAR_Test_File
}

rule PE_UPX_Packed : packer
{
  meta:
    description = "PE file with UPX section names: packed, which hides its code from static analysis"
    score = 40
    severity = "suspicious"
  condition:
    pe.is_pe and
    for any section in pe.sections : ( section.name == "UPX0" or section.name == "UPX1" or section.name == "UPX2" )
}

rule PE_Section_Writable_Executable : pe
{
  meta:
    description = "PE section that is both writable and executable, typical of unpacking stubs and shellcode loaders"
    score = 25
    severity = "suspicious"
  condition:
    pe.is_pe and
    for any section in pe.sections : (
      section.characteristics & pe.SECTION_MEM_EXECUTE != 0 and
      section.characteristics & pe.SECTION_MEM_WRITE != 0
    )
}

rule PowerShell_Encoded_Command : script
{
  meta:
    description = "PowerShell started with a base64-encoded command line"
    score = 50
    severity = "suspicious"
  strings:
    $ps = "powershell" nocase
    $enc = /\s-e(nc(odedcommand)?)?\s+[A-Za-z0-9+\/]{40,}={0,2}/ nocase
  condition:
    filesize < 5MB and $ps and $enc
}

rule Embedded_PE_Executable : dropper
{
  meta:
    description = "A second PE image (MZ header with DOS stub text) embedded after the start of the file"
    score = 30
    severity = "suspicious"
  strings:
    $stub = "This program cannot be run in DOS mode"
  condition:
    for any i in (1..#stub) : (
      @stub[i] > 0x80 and uint16(@stub[i] - 0x4E) == 0x5A4D
    )
}

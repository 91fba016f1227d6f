"""Write-back to WordPress: summary generators, the draft writer and the signed callback client."""

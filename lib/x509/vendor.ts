// The one file that imports the @peculiar/* packages; every other file in lib/x509 reaches them
// through here. reflect-metadata must be evaluated before @peculiar/x509, whose dependency
// injection container (tsyringe) calls Reflect.getMetadata at import time. ES modules evaluate
// imports in source order, so keeping it first here makes deep imports of lib/x509 files safe too.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import * as asn1x509 from "@peculiar/asn1-x509";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";

export { x509, asn1x509, AsnConvert, OctetString };

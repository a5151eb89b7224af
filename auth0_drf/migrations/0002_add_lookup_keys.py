"""Add ``lookup_key`` to identity links and claim records, nullable until 0003 fills it in.

The old unique constraints over (issuer, subject[, client_id]) compare with the database's
collation, which on MySQL and MariaDB ignores case, accents and trailing spaces; the key is a
SHA-256 of the exact values instead (see ``auth0_drf.models.exact_key``).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("auth0_drf", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auth0identity",
            name="lookup_key",
            field=models.CharField(editable=False, max_length=64, null=True, verbose_name="lookup key"),
        ),
        migrations.AddField(
            model_name="claimrecord",
            name="lookup_key",
            field=models.CharField(editable=False, max_length=64, null=True, verbose_name="lookup key"),
        ),
    ]
